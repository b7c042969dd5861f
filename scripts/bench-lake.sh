#!/usr/bin/env bash
# Throughput and memory of the local lake on a large generated input, release build:
#   * `ddb-lake replay` of N change records (newline-delimited, realistic order items: nested maps,
#     lists of maps, sets, exact numbers, Unicode; a third MODIFY with both images, a tenth REMOVE),
#   * `ddb-lake backfill` of a DynamoDB export of M items in 8 data files.
# Prints records/s and items/s and the peak resident memory of each run.
#
#   ./scripts/bench-lake.sh [N] [M]        # defaults: 300000 change records, 500000 export items
#   BENCH_DIR=/big/disk ./scripts/bench-lake.sh
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-300000}
items=${2:-500000}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$work"' EXIT

echo "==> cargo build --release --bin ddb-lake"
# shellcheck source=scripts/cargo-bin.sh
source scripts/cargo-bin.sh
cargo_bin --quiet --release --bin ddb-lake
bin=${BIN[ddb-lake]}

echo "==> generating $records change records and an export of $items items in $work"
python3 - "$work" "$records" "$items" <<'EOF'
import base64, gzip, hashlib, json, os, random, sys
work, n_records, n_items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
WORDS = "alpha beta gamma delta Zürich 数据 café naïve ørsted lake stream shard order item".split()
s = lambda v: {"S": v}
n = lambda v: {"N": str(v)}

def item(i):
    lines = [{"M": {"sku": s(f"SKU-{rnd.randrange(10**6):06d}"), "qty": n(rnd.randrange(1, 9)),
                    "price": n(f"{rnd.randrange(100, 99999) / 100:.2f}"),
                    "attrs": {"M": {"color": s(rnd.choice(WORDS)), "size": s(rnd.choice("SMLX"))}}}}
             for _ in range(rnd.randrange(1, 6))]
    return {"pk": s(f"CUSTOMER#{i % 5000:05d}"), "sk": s(f"ORDER#{i:09d}"),
            "status": s(rnd.choice(["NEW", "PAID", "SHIPPED", "CANCELLED"])),
            "total": n(f"{rnd.randrange(100, 10**7) / 100:.2f}"),
            "big": n("1234567890123456789012345678901234567" + str(i % 10)),
            "gift": {"BOOL": rnd.random() < 0.2}, "coupon": {"NULL": True},
            "note": s(" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 25)))),
            "shipping": {"M": {"name": s(rnd.choice(WORDS).title()), "city": s(rnd.choice(WORDS)),
                               "geo": {"M": {"lat": n(f"{rnd.uniform(-90, 90):.6f}"),
                                             "lng": n(f"{rnd.uniform(-180, 180):.6f}")}}}},
            "lines": {"L": lines}, "tags": {"SS": sorted({rnd.choice(WORDS) for _ in range(3)})},
            "ratings": {"NS": sorted({str(rnd.randrange(1, 6)) for _ in range(3)})},
            "thumb": {"B": base64.b64encode(rnd.randbytes(24)).decode()}}

# Change records over ~5 hours, microsecond precision, as the stacks' stream writes them.
with open(os.path.join(work, "changes.jsonl"), "w") as out:
    for i in range(n_records):
        kind = "REMOVE" if i % 10 == 9 else ("MODIFY" if i % 3 == 1 else "INSERT")
        new = item(i)
        d = {"ApproximateCreationDateTime": 1763856000000000 + i * 60_000,
             "ApproximateCreationDateTimePrecision": "MICROSECOND",
             "Keys": {"pk": new["pk"], "sk": new["sk"]}, "SizeBytes": 900}
        if kind != "REMOVE":
            d["NewImage"] = new
        if kind != "INSERT":
            d["OldImage"] = item(i)
        out.write(json.dumps({"awsRegion": "eu-central-1", "eventID": f"{i:032x}", "eventName": kind,
                              "userIdentity": None, "recordFormat": "application/json",
                              "tableName": "orders", "dynamodb": d, "eventSource": "aws:dynamodb"},
                             ensure_ascii=False) + "\n")

# A DYNAMODB_JSON export in the documented layout.
export = os.path.join(work, "export")
os.makedirs(os.path.join(export, "data"), exist_ok=True)
files, per_file = [], -(-n_items // 8)
for f in range(8):
    count = max(0, min(per_file, n_items - f * per_file))
    name = f"data/part{f:02d}.json.gz"
    body = "".join(json.dumps({"Item": item(f * per_file + i)}, ensure_ascii=False) + "\n"
                   for i in range(count)).encode()
    data = gzip.compress(body, compresslevel=6, mtime=0)
    open(os.path.join(export, name), "wb").write(data)
    files.append({"itemCount": count, "md5Checksum": base64.b64encode(hashlib.md5(data).digest()).decode(),
                  "etag": hashlib.md5(data).hexdigest() + "-1",
                  "dataFileS3Key": f"AWSDynamoDB/01763856000000-bench0001/{name}"})
open(os.path.join(export, "manifest-files.json"), "w").write("".join(json.dumps(x) + "\n" for x in files))
json.dump({"version": "2020-06-30",
           "exportArn": "arn:aws:dynamodb:eu-central-1:111122223333:table/orders/export/01763856000000-bench0001",
           "tableArn": "arn:aws:dynamodb:eu-central-1:111122223333:table/orders",
           "exportTime": "2025-11-23T00:00:00.000Z", "itemCount": n_items, "outputFormat": "DYNAMODB_JSON",
           "manifestFilesS3Key": "AWSDynamoDB/01763856000000-bench0001/manifest-files.json"},
          open(os.path.join(export, "manifest-summary.json"), "w"))
EOF
du -sh "$work/changes.jsonl" "$work/export/data"

run() { # label, command...
  local label=$1; shift
  echo "==> $label: $*"
  /usr/bin/time -v -o "$work/time.txt" "$@" | tail -n 2
  grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$work/time.txt" | sed 's/^\s*/    /'
}
if [ ! -x /usr/bin/time ]; then
  run() { local label=$1; shift; echo "==> $label: $*"; "$@" | tail -n 2; }
fi

run "replay" "$bin" replay "$work/changes.jsonl" --lake "$work/lake-replay"
run "backfill" "$bin" backfill "$work/export" --lake "$work/lake-backfill"
du -sh "$work/lake-replay" "$work/lake-backfill"
