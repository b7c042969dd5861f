#!/usr/bin/env bash
# Side-by-side, whole-process benchmark on a 6 MB Firehose event (the shared generator's):
# `ddb-lake transform`, the floor (examples/floor.rs: decode, parse to a Value tree, write back,
# encode; no flattening) and the Python yardstick. Prints medians, throughput, ratios, peak RSS,
# the Lambda binary's cold start and size.
#
# usage: scripts/bench.sh            RUNS=15 scripts/bench.sh        EVENT=my.json scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/bench
runs=${RUNS:-9}

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --quiet --release --bin ddb-lake --bin bootstrap --example floor
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh   # boto3, for the yardstick

event=${EVENT:-target/bench/event-6mb.json}
if [ ! -f "$event" ]; then
  [ -f "$shared/make_event.py" ] || { echo "need $shared/make_event.py (or EVENT=file)" >&2; exit 1; }
  mkdir -p "$(dirname "$event")"
  "$PYTHON" "$shared/make_event.py" "$event"
fi

"$PYTHON" scripts/bench.py --runs "$runs" --event "$event" \
  "ddb-lake=target/release/ddb-lake transform $event" \
  "floor=target/release/examples/floor $event" \
  "python=$PYTHON $shared/python_baseline.py $event"
"$PYTHON" scripts/cold_start.py target/release/bootstrap 31
echo "binary size: bootstrap $(stat -c %s target/release/bootstrap) bytes (stripped, with the Kinesis client), ddb-lake $(stat -c %s target/release/ddb-lake) bytes"
