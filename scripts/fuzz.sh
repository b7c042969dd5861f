#!/usr/bin/env bash
# Fuzzes the transformation with cargo-fuzz (libFuzzer). Not part of CI: a meaningful run takes
# minutes to hours. The property tests (tests/properties.rs) check the same invariants on every
# test run.
#
#   scripts/fuzz.sh                       # both targets, 10 minutes each
#   scripts/fuzz.sh transform_event 3600  # one target, one hour
#   scripts/fuzz.sh record_data -runs=5000000
#
# Targets: transform_event (any bytes as a Firehose event, then response-size fitting) and
# record_data (any bytes as one record's data). Seeds are fuzz/seeds/<target>/ (small, kept in
# the repository); what the fuzzer learns goes to fuzz/corpus/<target>/, a crash or timeout to
# fuzz/artifacts/<target>/ (both ignored by git). Reproduce a finding with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>
# and keep it as a test once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-fuzz >/dev/null; then
  echo "Installing cargo-fuzz (first run only)..." >&2
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer); this lets a stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

targets=(transform_event record_data)
seconds=600
extra=()
if [ $# -gt 0 ]; then targets=("$1"); shift; fi
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
extra=("$@")

for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "==> $target for ${seconds}s" >&2
  cargo fuzz run --fuzz-dir fuzz --debug-assertions "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -dict=fuzz/ddb-lake.dict -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "${extra[@]}"
done
