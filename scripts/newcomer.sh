#!/usr/bin/env bash
# The README's "Getting started: your own app", followed as a newcomer would: a fresh
# `cargo new --lib myapp` next to a "clone" (a link to this repository) gets the README's
# Cargo.toml, src/lib.rs, src/main.rs and tests/echo.rs, word for word (lines rustdoc hides
# left out); `cargo test` must pass with the test kit; the app is started and the README's
# client/echo.mjs, with clients/typescript installed by path as the README says, must get its
# reply. Run from anywhere; needs cargo, node and npm (scripts/test.sh runs it).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
app_pid=
cleanup() { [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

ln -s "$repo" "$work/swoft-ws"
cd "$work"
cargo new -q --lib myapp
cd myapp
mkdir tests client
# The section's code blocks, in order: toml (Cargo.toml), rust (lib, main, test), js (client).
python3 - "$repo/README.md" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
sec = s[s.index("## Getting started: your own app"):]
sec = sec[:sec.index("\n## ", 1)]
blocks = re.findall(r"```(\S*)\n(.*?)```", sec, re.S)
rust = [b for lang, b in blocks if lang.startswith("rust")]
visible = lambda b: "\n".join(l for l in b.split("\n") if not l.startswith("# ")) 
files = {
    "Cargo.toml": next(b for lang, b in blocks if lang == "toml"),
    "src/lib.rs": visible(rust[0]),
    "src/main.rs": visible(rust[1]),
    "tests/echo.rs": visible(rust[2]),
    "client/echo.mjs": next(b for lang, b in blocks if lang == "js"),
}
for path, text in files.items():
    open(path, "w").write(text)
PY
cargo test -q
cargo build -q
port=8080
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "newcomer: 127.0.0.1:$port is in use; the README's app needs it" >&2
  exit 1
fi
"${CARGO_TARGET_DIR:-target}/debug/myapp" &
app_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
(cd "$work/swoft-ws/clients/typescript" && npm ci -s --no-audit --no-fund && npm run -s build)
cd client
npm init -y >/dev/null
npm install -s --no-audit --no-fund "../../swoft-ws/clients/typescript" ws
out="$(timeout 30 node echo.mjs)"
echo "newcomer: node echo.mjs printed: $out"
[ "$out" = "{ text: 'hi' }" ] || { echo "newcomer: expected { text: 'hi' }" >&2; exit 1; }
echo "newcomer: the README's app builds, passes its test and answers the TypeScript client"
