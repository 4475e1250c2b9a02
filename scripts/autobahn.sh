#!/usr/bin/env bash
# Protocol conformance: Autobahn|Testsuite's fuzzingclient against the chat example's raw echo
# module (/raw, permessage-deflate on), in two runs: every case but compression (1.*-11.*,
# tests/autobahn/fuzzingclient.json; Autobahn offers no extension there, so these frames are
# uncompressed), then the compression cases 12.* and 13.* (fuzzingclient-deflate.json), each
# with its own report. Exits non-zero on any FAILED case.
# AUTOBAHN_RUNS="plain" or "deflate" runs one of them (default: "plain deflate").
#
# Autobahn runs only on Python 2.7. The venv (target/autobahn-venv) is made once from pyenv's
# CPython 2.7 (or $PYTHON2) with the pinned set in tests/autobahn/requirements.txt. Without a
# Python 2.7 this skips loudly on a developer machine and fails under CI=true.
# Reports: target/autobahn-reports/ (index.html to browse).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/target/autobahn-venv"
bootstrap="$root/target/autobahn-bootstrap"
reports="$root/target/autobahn-reports"
requirements="$root/tests/autobahn/requirements.txt"
stamp="$venv/.installed"

fail_or_skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "autobahn: FAILED to set up: $*" >&2
    exit 1
  fi
  echo "autobahn: SKIPPED (not run): $* — set up Python 2.7 (pyenv install 2.7.18) to run it" >&2
  exit 0
}

find_python2() {
  local c
  for c in "${PYTHON2:-}" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7.18/bin/python \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python \
    "$(command -v python2.7 || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# --- the venv (made once; redone when the pinned set changes)
want="$(cksum < "$requirements")"
if [ ! -x "$venv/bin/wstest" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py2=$(find_python2) || fail_or_skip "no Python 2.7 found (looked for \$PYTHON2, pyenv's 2.7, python2.7)"
  echo "autobahn: setting up $venv from $py2"
  rm -rf "$venv" "$bootstrap"
  # virtualenv 20.15 is the last that runs on and creates Python 2.7 environments.
  "$py2" -m pip install -q --disable-pip-version-check --target "$bootstrap" 'virtualenv==20.15.1' \
    || fail_or_skip "could not install virtualenv for Python 2.7"
  PYTHONPATH="$bootstrap" "$py2" -m virtualenv -q "$venv" \
    || fail_or_skip "could not create the Python 2.7 venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" \
    || fail_or_skip "could not install autobahntestsuite (see $requirements)"
  echo "$want" > "$stamp"
fi

# --- the server under test
cargo build -q -p swoft-ws-examples --example chat
target_dir="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$reports"
log="$reports/server.log"
out="$reports/server.out"
: > "$out"
SWOFT_WS_ADDR=127.0.0.1:0 RUST_LOG="${RUST_LOG:-warn}" \
  "$target_dir/debug/examples/chat" > "$out" 2> "$log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

addr=""
for _ in $(seq 1 300); do
  line=$(head -n 1 "$out")
  if [ -n "$line" ]; then
    addr=${line#listening on ws://}
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "autobahn: the chat example exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "autobahn: the chat example printed no address within 30 s" >&2; exit 1; }

# --- the verdict: counts by behaviour; any FAILED fails the run
verdict() { # index.json, seconds, run name
"$venv/bin/python" - "$@" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1]))
name = sys.argv[3]
counts, failed = {}, []
for agent, cases in sorted(index.items()):
    for case, r in sorted(cases.items()):
        b = r["behavior"]
        counts[b] = counts.get(b, 0) + 1
        if b == "FAILED" or r.get("behaviorClose") == "FAILED":
            failed.append("%s %s (behavior %s, close %s)" % (agent, case, b, r.get("behaviorClose")))
        elif b not in ("OK",):
            print("autobahn (%s): %s %s: %s (close %s)" % (name, agent, case, b, r.get("behaviorClose")))
for f in failed:
    print("autobahn (%s): FAILED %s" % (name, f))
print("autobahn (%s): by behaviour: %s; %s s" % (name, ", ".join("%s %d" % kv for kv in sorted(counts.items())), sys.argv[2]))
total = sum(counts.values())
print("autobahn: %d passed, %d failed" % (total - len(failed), len(failed)))
sys.exit(1 if failed or total == 0 else 0)
EOF
}

# --- the runs
run() { # name, spec template, report folder, timeout in s
  local name=$1 template=$2 outdir=$3 limit=$4
  local spec="$reports/$name.json" started
  sed -e "s#ws://ADDR/#ws://$addr/#" -e "s#\"OUTDIR\"#\"$outdir\"#" "$template" > "$spec"
  rm -rf "$outdir"
  echo "autobahn: fuzzingclient ($name) against ws://$addr/raw"
  started=$(date +%s)
  (cd "$reports" && timeout "$limit" "$venv/bin/wstest" -m fuzzingclient -s "$spec") > "$reports/wstest-$name.log" 2>&1 \
    || { tail -n 30 "$reports/wstest-$name.log" >&2; echo "autobahn: wstest failed (log: $reports/wstest-$name.log)" >&2; exit 1; }
  kill -0 "$server_pid" 2>/dev/null || { echo "autobahn: the server died during the run (log: $log)" >&2; exit 1; }
  verdict "$outdir/index.json" "$(( $(date +%s) - started ))" "$name"
}

for r in ${AUTOBAHN_RUNS:-plain deflate}; do
  case "$r" in
    plain) run plain "$root/tests/autobahn/fuzzingclient.json" "$reports/servers" 600 ;;
    deflate) run deflate "$root/tests/autobahn/fuzzingclient-deflate.json" "$reports/servers-deflate" 1500 ;;
    *) echo "autobahn: unknown run $r (expected plain or deflate)" >&2; exit 1 ;;
  esac
done
