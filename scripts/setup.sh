#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain. Idempotent; a no-op when all is
# there. Today the suite needs nothing else; later suites add their packages here.
set -euo pipefail
need=()
# (packages are appended here as suites need them, e.g. redis-server, chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "setup: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
  fi
fi
