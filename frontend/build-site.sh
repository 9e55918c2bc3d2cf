#!/usr/bin/env bash
# Builds the browser side of GitBlixt into target/site (what the server serves, and embeds in
# release builds):
#   pkg/gitblixt-<hash>.js, pkg/gitblixt-<hash>_bg.wasm   the bundle: the hydrate wasm (cargo) and
#                                                         its glue (wasm-bindgen), loaded by the
#                                                         interactive pages (app/src/bundles.rs)
#   pkg/gitblixt-<hash>.css                               style/main.css (named after the bundle)
#   everything in public/                                 favicon
# plus a .gz twin of every text and wasm file. <hash> is a content hash, so browsers may cache
# the files forever. `release` optimises the wasm for size
# (profile wasm-release, then binaryen's wasm-opt -Oz); `debug` builds quickly.
# Needs: the wasm32-unknown-unknown target, wasm-bindgen (the CLI, same version as the crate),
# and for release wasm-opt — `make tools` installs them.
set -euo pipefail
# A failing step inside "$(bundle)" must stop the build (bash does not pass -e into command
# substitutions by default): a missing wasm-opt once produced an unoptimised site silently.
shopt -s inherit_errexit

mode="${1:-debug}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$mode" in
  release) profile=wasm-release; profile_dir=wasm-release ;;
  debug) profile=dev; profile_dir=debug ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac

for tool in cargo wasm-bindgen $([ "$mode" = release ] && echo wasm-opt); do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found; \`make tools\` installs it (wasm-opt is in end2end/node_modules/.bin)" >&2; exit 1; }
done

site="$root/target/site"
mkdir -p "$root/target"
staging="$(mktemp -d "$root/target/.site.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/pkg"

# bundle: builds the bundle into $staging/pkg; prints its name.
bundle() {
  cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$profile" >&2
  local wasm="$target/wasm32-unknown-unknown/$profile_dir/frontend.wasm"
  local name="gitblixt-$(cat "$wasm" "$root/style/main.css" | sha256sum | cut -c1-16)"
  wasm-bindgen --target web --no-typescript --out-dir "$staging/pkg" --out-name "$name" "$wasm" >&2
  if [ "$mode" = release ]; then
    # The wasm target's default features (bulk memory, sign extension, …) are read from the module.
    wasm-opt -Oz --strip-debug --strip-producers "$staging/pkg/${name}_bg.wasm" -o "$staging/pkg/${name}_bg.wasm" >&2
  fi
  echo "$name"
}
name="$(bundle)"
cp "$root/style/main.css" "$staging/pkg/$name.css"
cp -R "$root/public/." "$staging/"
find "$staging" -type f \( -name '*.js' -o -name '*.wasm' -o -name '*.css' -o -name '*.svg' -o -name '*.ico' -o -name '*.txt' \) \
  -exec gzip -9 -n -k {} \;

# Swap the new site in whole: a server reading target/site never sees half of one.
chmod 755 "$staging"
rm -rf "$site.old"
[ -d "$site" ] && mv "$site" "$site.old"
mv "$staging" "$site"
rm -rf "$site.old"
trap - EXIT
echo "site ($mode): target/site/pkg/$name — wasm $(stat -c %s "$site/pkg/${name}_bg.wasm") bytes, $(stat -c %s "$site/pkg/${name}_bg.wasm.gz") gzipped"
