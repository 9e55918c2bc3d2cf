# GitBlixt — `make run` and `make test` do all set-up on a fresh machine.
#
# Cargo's target dir: $(CARGO_TARGET_DIR) if set, else ./target. The compiled site (wasm, js, css)
# is always under ./target/site (frontend/build-site.sh); release binaries embed it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

WASM_BINDGEN_VERSION := 0.2.130
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: run test tools system-packages cargo-test e2e smoke site site-release build-release demo bench clean

## Installs what is missing (idempotent): the wasm target, wasm-bindgen, npm packages (binaryen's
## wasm-opt for release builds, Playwright for the browser tests).
tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	@if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -x end2end/node_modules/.bin/playwright ] || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then \
		cd end2end && npm install --no-audit --no-fund; fi

## Debian packages the tests use: chromium for the browser tests (never a downloaded browser),
## PostgreSQL for the PostgreSQL test (a throwaway cluster on 127.0.0.1), git.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

## Builds in release mode and starts GitBlixt on http://127.0.0.1:3000 (data in ./data).
run: build-release
	$(TARGET_DIR)/release/gitblixt serve

## The compiled site (wasm, js, css) in target/site: debug for tests, release for the binary.
site: tools
	frontend/build-site.sh debug
site-release: tools
	frontend/build-site.sh release

## The self-contained release binary ($(TARGET_DIR)/release/gitblixt), the release site embedded.
build-release: site-release
	cargo build --release -p gitblixt

## Every test: the Rust unit and integration tests, the browser tests, then the release smoke test.
test: tools system-packages cargo-test e2e smoke

# One invocation, so dependency features unify once (no second build of the dependencies).
cargo-test:
	cargo test -p app -p gitblixt -p github-double --features app/ssr

e2e: site
	cargo build -p gitblixt -p github-double --bins
	cd end2end && GITBLIXT_BIN=$(TARGET_DIR)/debug/gitblixt GITHUB_DOUBLE_BIN=$(TARGET_DIR)/debug/github-double npx playwright test

## The release build exactly as `make run` builds it, started as `make run` starts it (from a
## fresh working directory, default ./data), driven in chromium through a push mirror.
smoke: build-release
	cargo build -p github-double --bin github-double
	cd end2end && GITBLIXT_RELEASE=1 GITBLIXT_BIN=$(TARGET_DIR)/release/gitblixt GITHUB_DOUBLE_BIN=$(TARGET_DIR)/debug/github-double npx playwright test -c playwright.smoke.config.ts

## GitBlixt and the GitHub double wired together, with a demo user on each side (see the README).
demo: build-release
	cargo build -p github-double --bin github-double
	end2end/demo.sh $(TARGET_DIR)/release/gitblixt $(TARGET_DIR)/debug/github-double

## Every section by default; `make bench SECTIONS="import ssh"` runs only those (hosting, engine,
## scale, ssh, push-mirror, import, never-silent). The scale section runs the `gitblixt` binary
## beside the bench's, so both are built.
bench: tools
	cargo build --release -p gitblixt -p github-double --bin gitblixt --bin gitblixt-bench
	$(TARGET_DIR)/release/gitblixt-bench $(SECTIONS)

clean:
	cargo clean
	rm -rf target/site end2end/node_modules
