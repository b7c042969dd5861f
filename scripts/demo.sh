#!/usr/bin/env bash
# The product on built-in sample data, no AWS: builds `ddb-lake`, loads the sample DynamoDB export
# into a local lake laid out like the stacks' S3 bucket (`ddb-lake backfill`), runs the sample
# change records of two tables through the Lambda's code into it (`ddb-lake replay`), shows the
# lake and rows from it, infers a Glue table and a current-state view per source table
# (`ddb-lake schema`), and queries both with Athena SQL on DuckDB.
#
#   ./scripts/demo.sh            # the lake is written to ./lake (set DDB_LAKE_DEMO_DIR to move it)
set -euo pipefail
cd "$(dirname "$0")/.."
lake=${DDB_LAKE_DEMO_DIR:-lake}

step() { printf '\n==> %s\n' "$*"; }

step "Building ddb-lake"
# shellcheck source=scripts/cargo-bin.sh
source scripts/cargo-bin.sh
cargo_bin --quiet --bin ddb-lake
bin=${BIN[ddb-lake]}
rm -rf "$lake"

step "ddb-lake backfill sample-records/export --lake $lake   (the table as exported at 08:00)"
"$bin" backfill sample-records/export --lake "$lake"

step "ddb-lake replay sample-records/change-records.jsonl --lake $lake   (the stream's changes after it)"
"$bin" replay sample-records/change-records.jsonl --lake "$lake"

step "ddb-lake replay sample-records/devices-change-records.jsonl --lake $lake   (another table: number key, no sort key, awkward names)"
"$bin" replay sample-records/devices-change-records.jsonl --lake "$lake"

step "The lake: the stacks' S3 layout, newline-delimited JSON, gzip"
find "$lake" -type f | sort

step "Rows from it (the latest object, first rows shortened)"
python3 - "$lake" <<'EOF'
import gzip, pathlib, sys
objects = sorted(pathlib.Path(sys.argv[1], "lake").rglob("*.gz"))
print(objects[-1])
with gzip.open(objects[-1], "rt", encoding="utf-8") as f:
    for line in list(f)[:3]:
        print(line if len(line) < 300 else line[:300] + "…")
EOF

step "ddb-lake schema --lake $lake > $lake/glue-tables.json   (a Glue table per source table, inferred from the rows)"
"$bin" schema --lake "$lake" >"$lake/glue-tables.json"
# Each table's current-state view, keyed by its own key (from the key schema `replay` keeps beside
# the rows, as the table-attachment function does on AWS).
"$bin" schema --lake "$lake" --views >"$lake/views.sql"
python3 - "$lake/glue-tables.json" <<'EOF'
import json, sys
for table in json.load(open(sys.argv[1])):
    sd = table["StorageDescriptor"]
    mappings = {k[len("mapping."):]: v for k, v in sd["SerdeInfo"]["Parameters"].items()
                if k.startswith("mapping.")}
    print(table["Name"], "(metadata columns _event_name … left out)")
    for c in sd["Columns"]:
        if not c["Name"].startswith("_"):
            reads = f'   reads "{mappings[c["Name"]]}"' if c["Name"] in mappings else ""
            print(f'  {c["Name"]:26} {c["Type"]}{reads}')
EOF

step "Querying it with the shipped Athena SQL on DuckDB (scripts/lake_sql.py; DuckDB and sqlglot are installed on first use)"
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh requirements-demo.txt
"$PYTHON" scripts/lake_sql.py --lake "$lake" --schema "$lake/glue-tables.json" --views "$lake/views.sql" \
  'SELECT pk, sk, status, total, _event_time FROM "ddb_lake"."orders_changes_current" ORDER BY pk, sk' \
  'SELECT device_id, device_name, battery_level, _event_time FROM "ddb_lake"."devices_changes_current" ORDER BY device_id' \
  sql/examples/orders_by_status.sql sql/examples/item_history.sql \
  'SELECT device_id, device_name, battery_level, temperature, temperature_2, "2fa", counter, _event_name
   FROM "ddb_lake"."devices_changes" ORDER BY _event_time'

cat <<EOF

The backfilled order CUSTOMER#00042/ORDER#2025-11-01#0999 and the TTL-expired session are gone
(later REMOVEs), ORDER#2025-11-20#1001 is PAID (its MODIFY overrides its INSERT, counted once
although delivered twice), the other exported orders are as of the export. The devices table has
columns of its own: "Device Name" is read as device_name, "Temperature" and "temperature" as two
columns, 18446744073709551616 exactly as a decimal(20,0).
Query the lake yourself: see "The local lake" and "Use it with your own tables" in README.md.
EOF
