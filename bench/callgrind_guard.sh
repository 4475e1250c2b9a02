#!/usr/bin/env bash
# Performance guard of the `echo.send` message path: counts, with callgrind, the instructions one
# message takes (decode → route → extract → handler → encode → queue) and fails when the figure
# has grown by more than a threshold over the recorded baseline. Instruction counts repeat exactly
# on a busy machine, where wall time does not. Run from anywhere:
#
#   bash bench/callgrind_guard.sh            # check against bench/msg_path_baseline
#   bash bench/callgrind_guard.sh --record   # measure and write bench/msg_path_baseline
#
# Method (as bench/examples/msg_path_count.rs documents): Ir of `msg_path_count N` minus Ir of
# `msg_path_count 0`, divided by N, so start-up and teardown cancel out. Ir is read from the
# `totals:` line (or `summary:`, its older name) of the callgrind output file, in the column the
# file's `events:` line names Ir.
#
# Environment:
#   CALLGRIND_GUARD_N          messages in the measured run (default 20000)
#   CALLGRIND_GUARD_THRESHOLD  allowed growth over the baseline, in percent (default 3)
#   CALLGRIND_GUARD_BASELINE   baseline file (default bench/msg_path_baseline)
#   CARGO_TARGET_DIR           honoured (the binary is found through `cargo metadata`)
#
# Needs cargo and valgrind. The count depends on the compiler: after a toolchain upgrade, a
# failure may be rustc's, not the code's; the baseline file says which rustc it was measured with.
# Exit status: 0 within the threshold (or recorded), 1 over it, 2 on a usage or setup error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS

n="${CALLGRIND_GUARD_N:-20000}"
threshold="${CALLGRIND_GUARD_THRESHOLD:-3}"
baseline_file="${CALLGRIND_GUARD_BASELINE:-bench/msg_path_baseline}"

die() { printf 'callgrind_guard: %s\n' "$*" >&2; exit 2; }

record=false
case "${1:-}" in
  "") ;;
  --record) record=true ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) die "unknown argument '$1' (expected --record or nothing)" ;;
esac
[[ $n =~ ^[1-9][0-9]*$ ]] || die "CALLGRIND_GUARD_N must be a positive integer, not '$n'"
[[ $threshold =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "CALLGRIND_GUARD_THRESHOLD must be a number of percent, not '$threshold'"
command -v valgrind >/dev/null || die "valgrind not found (Debian: apt-get install valgrind)"

cargo build --release -p swoft-ws-bench --example msg_path_count

# Where cargo put it: `cargo metadata` knows CARGO_TARGET_DIR and .cargo/config's build.target-dir.
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)"
target_dir="${target_dir:-${CARGO_TARGET_DIR:-$root/target}}"
bin="$target_dir/release/examples/msg_path_count"
[[ -x $bin ]] || die "built, but $bin is not there"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ir COUNT: total Ir of `msg_path_count COUNT` under callgrind.
ir() {
  local out="$tmp/callgrind.$1" log="$tmp/valgrind.$1" total
  # From a fixed directory, so the constant part repeats too (it cancels out anyway).
  if ! (cd "$tmp" && valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1") >/dev/null 2>"$log"; then
    cat "$log" >&2
    die "msg_path_count $1 failed under valgrind"
  fi
  total="$(awk '
    /^events:/ { for (i = 2; i <= NF; i++) if ($i == "Ir") col = i - 1 }
    /^totals:/ { totals = $(col + 1) }
    /^summary:/ { summary = $(col + 1) }
    END { print (totals != "" ? totals : summary) }' col=1 "$out")"
  [[ $total =~ ^[0-9]+$ ]] || die "no Ir total in the callgrind output of msg_path_count $1"
  printf '%s\n' "$total"
}

ir0="$(ir 0)"
irn="$(ir "$n")"
(( irn > ir0 )) || die "Ir at N=$n ($irn) is not above Ir at N=0 ($ir0)"
current="$(awk -v a="$irn" -v b="$ir0" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }')"
echo "callgrind_guard: Ir at N=0: $ir0; at N=$n: $irn"
echo "callgrind_guard: current:  $current instructions/message"

rustc_version="$(rustc --version 2>/dev/null || echo 'rustc unknown')"

if $record; then
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ $commit != unknown ]] && ! git diff --quiet HEAD -- . ":(exclude)$baseline_file" 2>/dev/null; then
    commit="$commit + uncommitted changes"
  fi
  {
    echo "# echo.send: callgrind instructions/message, (Ir at N=$n − Ir at N=0) / $n, by bench/callgrind_guard.sh --record"
    echo "# measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -srm), commit $commit, $rustc_version, $(valgrind --version)"
    echo "$current"
  } >"$baseline_file"
  echo "callgrind_guard: recorded $current in $baseline_file ($(( SECONDS - started ))s)"
  exit 0
fi

[[ -f $baseline_file ]] || die "no baseline: $baseline_file (make one with --record)"
baseline="$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$baseline_file" | head -n 1 | tr -d '[:space:]')"
[[ $baseline =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$baseline_file holds no number"
echo "callgrind_guard: baseline: $baseline instructions/message ($baseline_file)"
grep -qF -- "$rustc_version" "$baseline_file" \
  || echo "callgrind_guard: note: the baseline was not measured with $rustc_version; a difference may be the compiler's"

verdict="$(awk -v c="$current" -v b="$baseline" -v t="$threshold" 'BEGIN {
  r = c / b
  printf "%.4f %s", r, (r > 1 + t / 100 ? "over" : (r < 1 - t / 100 ? "under" : "ok"))
}')"
ratio="${verdict% *}"
verdict="${verdict#* }"
echo "callgrind_guard: ratio:    $ratio (current / baseline; limit 1 + $threshold%) in $(( SECONDS - started ))s"
case "$verdict" in
  over)
    echo "callgrind_guard: FAIL: the message path takes more than $threshold% more instructions than the baseline" >&2
    exit 1 ;;
  under)
    echo "callgrind_guard: ok, and more than $threshold% below the baseline: record the gain with --record" ;;
  *) echo "callgrind_guard: ok" ;;
esac
