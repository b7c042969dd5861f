#!/usr/bin/env bash
# Throughput and memory of the local lake on a large generated input, release build:
#   * `ddb-lake replay` of N change records (newline-delimited, realistic order items: nested maps,
#     lists of maps, sets, exact numbers, Unicode; a third MODIFY with both images, a tenth REMOVE),
#   * `ddb-lake backfill` of a DynamoDB export of M items in 8 data files: on 1 thread and on
#     every core (--threads), then from S3 to S3 against a local moto_server (the request
#     pattern: GETs, PUTs with SSE-KMS headers; not a speed claim for S3).
# Prints records/s and items/s and the peak resident memory of each run.
#
#   ./scripts/bench-lake.sh [N] [M]        # defaults: 300000 change records, 500000 export items
#   BENCH_DIR=/big/disk ./scripts/bench-lake.sh
#   DDB_LAKE_BIN=path/to/release/ddb-lake ./scripts/bench-lake.sh   # skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-300000}
items=${2:-500000}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$work"' EXIT

if [ -n "${DDB_LAKE_BIN:-}" ]; then  # a release binary built already
    bin=$DDB_LAKE_BIN
else
    echo "==> cargo build --release --bin ddb-lake"
    # shellcheck source=scripts/cargo-bin.sh
    source scripts/cargo-bin.sh
    cargo_bin --quiet --release --bin ddb-lake
    bin=${BIN[ddb-lake]}
fi

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
  grep -E "Maximum resident set size|Elapsed \(wall clock\)|User time|System time|Percent of CPU" \
      "$work/time.txt" | sed 's/^\s*/    /'
}
if [ ! -x /usr/bin/time ]; then
  run() { local label=$1; shift; echo "==> $label: $*"; "$@" | tail -n 2; }
fi

run "replay" "$bin" replay "$work/changes.jsonl" --lake "$work/lake-replay"
# Backfill on 1 thread and on every core, alternately, 3 times each: the best wall time of each
# (a shared machine's other work only ever slows a run down), and the CPU time, which other
# work does not change (its ratio shows what the threads cost beyond the work itself).
for round in 1 2 3; do
  for threads in 1 "$(nproc)"; do
    rm -rf "$work/lake-backfill-$threads"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time-$threads-$round.txt" \
        "$bin" backfill "$work/export" --lake "$work/lake-backfill-$threads" --threads "$threads" >/dev/null
  done
done
for threads in 1 "$(nproc)"; do
  cat "$work"/time-"$threads"-*.txt | sort -n | head -n 1 | awk -v t="$threads" -v n="$items" '{
    printf "==> backfill, %d thread(s), best of 3: %.2f s, %.0f items/s; CPU %.2f s (%.0f items per CPU-second); peak RSS %.1f MiB\n",
           t, $1, n / $1, $2 + $3, n / ($2 + $3), $4 / 1024 }'
done
du -sh "$work/lake-replay" "$work/lake-backfill-1"
if ! diff -r "$work/lake-backfill-1" "$work/lake-backfill-$(nproc)" >/dev/null; then
    echo "the lakes written on 1 thread and on $(nproc) differ" >&2; exit 1
fi

# S3 to S3 against moto_server (from the project's Python tools).
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh requirements-dev.txt
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null; [ -z "${BENCH_DIR:-}" ] && rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
"$PYTHON" - "$work/export" <<'EOF'
import boto3, os, sys, time
export = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"])
for _ in range(100):
    try:
        s3.list_buckets()
        break
    except Exception:
        time.sleep(0.1)
s3.create_bucket(Bucket="exports")
s3.create_bucket(Bucket="lake-bucket")
for root, _, names in os.walk(export):
    for name in names:
        path = os.path.join(root, name)
        s3.upload_file(path, "exports", "x/AWSDynamoDB/01763856000000-bench0001/" + os.path.relpath(path, export))
EOF
run "backfill, S3 to S3 (moto)" "$bin" backfill s3://exports/x/AWSDynamoDB/01763856000000-bench0001/ \
    --lake s3://lake-bucket/ --kms-key-id arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
