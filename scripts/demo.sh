#!/usr/bin/env bash
# The product on built-in sample data, no AWS: builds `ddb-lake`, transforms the sample Firehose
# event exactly as the Lambda would, and shows the rows and partition keys it produced.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin ddb-lake
bin=target/release/ddb-lake
event=sample-records/firehose-event.json
echo "==> ddb-lake transform $event   (the Lambda's response, decoded)"
"$bin" transform "$event" 2>/dev/null | python3 -c '
import base64, json, sys
for r in json.load(sys.stdin)["records"]:
    keys = r.get("metadata", {}).get("partitionKeys", {})
    prefix = "/".join(f"{k}={keys[k]}" for k in ("table", "year", "month", "day", "hour") if k in keys)
    print(f"\n{r['"'"'result'"'"']}  recordId={r['"'"'recordId'"'"'][-6:]}  s3 prefix: {prefix}/")
    row = base64.b64decode(r["data"]).decode()
    print(row if len(row) < 600 else row[:600] + "...", end="")
'
