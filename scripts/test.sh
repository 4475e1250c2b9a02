#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests over 127.0.0.1, macro UI tests, doctests,
# the TypeScript client (clients/typescript: build, its tests against the real chat example, the
# generated contract checked by @asyncapi/parser and tsc), then the chat page's end-to-end test in
# headless Chromium (tests/browser/).
# Installs (on Debian, as root) the services and browser the suite needs; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
# Protocol conformance (Autobahn fuzzingclient on the chat example's /raw); needs Python 2.7.
bash scripts/autobahn.sh
# The TypeScript client: build (tsc), the typed usage of the generated contract (tsc --noEmit),
# then its tests (node --test): against the chat example, the issue-16 wire, the AsyncAPI
# document, the committed build the example serves (examples/chat/static/swoft-ws-client.js), and
# examples/node_client.mjs run as a user runs it.
(cd clients/typescript && npm run -s build && npm run -s check:contract && node --test test/*.test.mjs)
# The README's "Getting started", followed word for word in a fresh `cargo new` app: it builds,
# passes its test on the kit, and answers the TypeScript client from Node.
bash scripts/newcomer.sh
# The browser test builds and runs the chat example itself. Without Chromium it fails when
# CI=true and is skipped, loudly, elsewhere.
node --test tests/browser/*.test.mjs
