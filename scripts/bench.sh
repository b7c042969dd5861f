#!/usr/bin/env bash
# Side-by-side, whole-process benchmark on a 6 MB Firehose event (examples/bench_event, seed 1):
# `ddb-lake transform`, the floor (examples/floor.rs: decode, parse to a Value tree, write back,
# encode; no flattening) and, when given, a Python yardstick. Prints medians, throughput, ratios,
# peak RSS, the Lambda binary's cold start and size.
#
# usage: scripts/bench.sh            RUNS=15 scripts/bench.sh        EVENT=my.json scripts/bench.sh
#        PYTHON_YARDSTICK=path/to/baseline.py scripts/bench.sh   (a script: EVENT.json → response)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-9}

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
# shellcheck source=scripts/cargo-bin.sh
source scripts/cargo-bin.sh
cargo_bin --quiet --release --bin ddb-lake --bin bootstrap --example floor --example bench_event
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh   # scripts/bench.py, and boto3 for a yardstick

event=${EVENT:-}
if [ -z "$event" ]; then
  event=$(mktemp --suffix=.json)
  trap 'rm -f "$event"' EXIT
  "${BIN[bench_event]}" "$event"
fi

commands=(
  "ddb-lake=${BIN[ddb-lake]} transform $event"
  "floor=${BIN[floor]} $event"
)
if [ -n "${PYTHON_YARDSTICK:-}" ]; then
  commands+=("python=$PYTHON $PYTHON_YARDSTICK $event")
fi
"$PYTHON" scripts/bench.py --runs "$runs" --event "$event" "${commands[@]}"
"$PYTHON" scripts/cold_start.py "${BIN[bootstrap]}" 31
echo "binary size: bootstrap $(stat -c %s "${BIN[bootstrap]}") bytes (stripped, with the Kinesis client), ddb-lake $(stat -c %s "${BIN[ddb-lake]}") bytes"
