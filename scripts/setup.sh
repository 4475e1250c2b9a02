#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, Node and npm. Idempotent and quiet;
# a no-op when all is there.
#   - chromium (Debian's package): the browser test of the chat page (tests/browser/)
#   - redis-server (Debian's package): the multi-node tests (tests/tests/cluster/)
#   - openssl (Debian's package): the self-signed certificate of the browser test over wss
#   - tests/browser/node_modules: playwright-core, pinned by tests/browser/package-lock.json
#   - clients/typescript/node_modules: typescript, ws, @asyncapi/parser (dev only), pinned by
#     clients/typescript/package-lock.json
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
  fi
fi

# The npm dependencies of the browser test and of the TypeScript client: installed exactly as
# locked, again when the lock changes.
for dir in tests/browser clients/typescript; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    if command -v npm >/dev/null; then
      echo "setup: npm ci in $dir" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
      touch "$dir/node_modules"
    else
      echo "setup: npm not found; $dir needs Node and npm" >&2
    fi
  fi
done
