#!/usr/bin/env bash
# `make demo`: GitBlixt wired to the GitHub double (a local stand-in for github.com), so a push
# mirror can be seen working in two minutes without registering an OAuth App on github.com.
# Usage: end2end/demo.sh <gitblixt binary> <github-double binary>
# GitBlixt listens on $GITBLIXT_ADDR (default 127.0.0.1:3000); data lives in a fresh temporary
# directory, removed when the demo stops (ctrl-c).
set -euo pipefail

gitblixt="$(realpath "$1")"
double_bin="$(realpath "$2")"
addr="${GITBLIXT_ADDR:-127.0.0.1:3000}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/gitblixt-demo.XXXXXX")"
client_id="Iv1.demo-gitblixt"
client_secret="demo-client-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

cleanup() {
  for pid in ${gitblixt_pid:-} ${double_pid:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# The double prints one JSON line with its URLs once it listens.
"$double_bin" --seed </dev/null >"$dir/double.json" 2>"$dir/double.log" &
double_pid=$!
for _ in $(seq 1 100); do
  [ -s "$dir/double.json" ] && break
  kill -0 "$double_pid" 2>/dev/null || { cat "$dir/double.log" >&2; exit 1; }
  sleep 0.1
done
web_url="$(sed -n 's/.*"web_url":"\([^"]*\)".*/\1/p' "$dir/double.json")"
api_url="$(sed -n 's/.*"api_url":"\([^"]*\)".*/\1/p' "$dir/double.json")"
[ -n "$web_url" ] || { echo "the GitHub double did not start" >&2; exit 1; }

control() {
  curl -fsS -X POST -H 'content-type: application/json' -d "$2" "$web_url/_double/$1" >/dev/null
}
control oauth-apps "{\"name\":\"GitBlixt demo\",\"client_id\":\"$client_id\",\"client_secret\":\"$client_secret\",\"callback_url\":\"http://$addr/oauth/github/callback\",\"expiring_tokens\":true}"
control repos '{"owner":"octocat","name":"demo","private":false}'

export GITBLIXT_DATA="$dir/data" GITBLIXT_ADDR="$addr"
export GITHUB_URL="$web_url" GITHUB_API_URL="$api_url" GITHUB_CLIENT_ID="$client_id" GITHUB_CLIENT_SECRET="$client_secret"
export RUST_LOG="${RUST_LOG:-warn,gitblixt=info}"
echo 'demo-password' | "$gitblixt" admin create-user demo >/dev/null
"$gitblixt" admin create-repo demo/project --description "GitBlixt demo" >/dev/null

cat <<EOF

GitBlixt demo — against a local stand-in for GitHub (the GitHub double), not github.com.

  GitBlixt:        http://$addr      user demo, password demo-password
  GitHub stand-in: $web_url  (you are octocat there; the repository octocat/demo is empty)
  Data:            $dir  (deleted when the demo stops)

  1. Sign in at http://$addr/login, open Settings → Connected Accounts, Connect GitHub, Authorize.
  2. Open http://$addr/demo/project/settings, enter octocat/demo under Push mirroring, Enable mirror.
  3. Push something and watch the page turn Active without a reload:
       git clone http://demo:demo-password@$addr/demo/project.git && cd project
       git commit --allow-empty -m 'hello GitHub' && git push origin HEAD
     then see the branch on the stand-in: $web_url/octocat/demo

Ctrl-C stops the demo and deletes its data.

EOF
"$gitblixt" serve &
gitblixt_pid=$!
wait "$gitblixt_pid"
