#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests over 127.0.0.1, macro UI tests, doctests,
# then the chat page's end-to-end test in headless Chromium (tests/browser/).
# Installs (on Debian, as root) the services and browser the suite needs; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
# Protocol conformance (Autobahn fuzzingclient on the chat example's /raw); needs Python 2.7.
bash scripts/autobahn.sh
# The browser test builds and runs the chat example itself. Without Chromium it fails when
# CI=true and is skipped, loudly, elsewhere.
node --test tests/browser/*.test.mjs
