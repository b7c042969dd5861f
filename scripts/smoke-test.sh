#!/usr/bin/env bash
# Smoke test of a deployed lake, end to end, with the AWS CLI (works from CloudShell):
#   1. put-item, update-item, delete-item on the source table (one order that ends deleted, one
#      that stays);
#   2. waits until Firehose has written the rows to S3, decodes them and checks the flattened
#      columns (scripts/smoke_check.py, boto3);
#   3. runs Athena: the change rows of the test orders, filtered by partition (datehour), with a
#      number column (total) checked exactly, then the current-state view (both made by the
#      schema keeper).
# Exits non-zero with a message saying what did not arrive or did not match.
#
#   scripts/smoke-test.sh --stack NAME                                   # single account
#   scripts/smoke-test.sh --producer-stack A --consumer-stack B \
#                         [--producer-profile PA] [--consumer-profile PB]  # cross-account
#   options: --region R  --timeout SECONDS (S3 wait, default 900)  --keep (leave the test item)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
producer_stack="" consumer_stack="" producer_profile="${AWS_PROFILE:-}" consumer_profile="${AWS_PROFILE:-}"
region="" timeout=900 keep=false
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) producer_stack="$2"; consumer_stack="$2"; shift 2 ;;
        --producer-stack) producer_stack="$2"; shift 2 ;;
        --consumer-stack) consumer_stack="$2"; shift 2 ;;
        --producer-profile) producer_profile="$2"; shift 2 ;;
        --consumer-profile) consumer_profile="$2"; shift 2 ;;
        --region) region="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --keep) keep=true; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done
[ -n "$producer_stack" ] && [ -n "$consumer_stack" ] || { echo "--stack, or --producer-stack and --consumer-stack, are required" >&2; exit 64; }

producer() { aws ${producer_profile:+--profile "$producer_profile"} ${region:+--region "$region"} "$@"; }
consumer() { aws ${consumer_profile:+--profile "$consumer_profile"} ${region:+--region "$region"} "$@"; }
fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
output() {  # output producer|consumer STACK KEY
    local value
    value=$("$1" cloudformation describe-stacks --stack-name "$2" \
        --query "Stacks[0].Outputs[?OutputKey=='$3'].OutputValue | [0]" --output text) \
        || fail "cannot read stack $2"
    [ -n "$value" ] && [ "$value" != None ] || fail "stack $2 has no output $3"
    echo "$value"
}

table=$(output producer "$producer_stack" SourceTableName)
pk_name=$(output producer "$producer_stack" PartitionKeyName)
sk_name=$(output producer "$producer_stack" SortKeyName)
bucket=$(output consumer "$consumer_stack" LakeBucketName)
prefix=$(output consumer "$consumer_stack" TablePrefix)
error_prefix=$(output consumer "$consumer_stack" ErrorPrefix)
database=$(output consumer "$consumer_stack" GlueDatabaseName)
workgroup=$(output consumer "$consumer_stack" AthenaWorkGroupName)
# The schema keeper's names: <table>_changes (lower case, characters other than [a-z0-9_] as _)
# and its current-state view <table>_changes_current.
glue_table="$(printf '%s' "$table" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9_]/_/g')_changes"

pk="smoke-$(date -u +%Y%m%dT%H%M%S)-$RANDOM"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# 20 integer digits and 6 decimals: more than a double keeps, exactly what decimal(38,6) holds.
total=12345678901234567890.123456
work=$(mktemp -d)
cleanup() {
    $keep || producer dynamodb delete-item --table-name "$table" \
        --key "{\"$pk_name\":{\"S\":\"$pk\"},\"$sk_name\":{\"S\":\"order#2\"}}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== 1. changes on $table ($pk_name=$pk)"
producer dynamodb put-item --table-name "$table" --item "{
    \"$pk_name\": {\"S\": \"$pk\"}, \"$sk_name\": {\"S\": \"order#1\"},
    \"status\": {\"S\": \"NEW\"}, \"customer_id\": {\"S\": \"c-42\"},
    \"total\": {\"N\": \"$total\"}, \"currency\": {\"S\": \"EUR\"},
    \"address\": {\"M\": {\"city\": {\"S\": \"Lisbon\"}, \"postcode\": {\"S\": \"1100-148\"}}},
    \"tags\": {\"SS\": [\"smoke\"]}}"
producer dynamodb put-item --table-name "$table" --item "{
    \"$pk_name\": {\"S\": \"$pk\"}, \"$sk_name\": {\"S\": \"order#2\"},
    \"status\": {\"S\": \"NEW\"}, \"total\": {\"N\": \"1.5\"}}"
producer dynamodb update-item --table-name "$table" \
    --key "{\"$pk_name\":{\"S\":\"$pk\"},\"$sk_name\":{\"S\":\"order#1\"}}" \
    --update-expression "SET #s = :s" --expression-attribute-names '{"#s":"status"}' \
    --expression-attribute-values '{":s":{"S":"SHIPPED"}}'
producer dynamodb update-item --table-name "$table" \
    --key "{\"$pk_name\":{\"S\":\"$pk\"},\"$sk_name\":{\"S\":\"order#2\"}}" \
    --update-expression "SET #s = :s" --expression-attribute-names '{"#s":"status"}' \
    --expression-attribute-values '{":s":{"S":"PAID"}}'
producer dynamodb delete-item --table-name "$table" \
    --key "{\"$pk_name\":{\"S\":\"$pk\"},\"$sk_name\":{\"S\":\"order#1\"}}"
echo "put, updated and deleted order#1; put and updated order#2 (kept until the end)"

echo "== 2. rows in s3://$bucket/${prefix}table=$table/ (Firehose buffers; this can take minutes)"
cat > "$work/expect.json" <<EOF
[
  {"_event_name": "INSERT", "$sk_name": "order#1", "status": "NEW", "customer_id": "c-42",
   "total": $total, "currency": "EUR", "address_city": "Lisbon", "address_postcode": "1100-148",
   "tags": ["smoke"], "_is_deleted": false, "_table_name": "$table"},
  {"_event_name": "MODIFY", "$sk_name": "order#1", "status": "SHIPPED", "_is_deleted": false},
  {"_event_name": "REMOVE", "$sk_name": "order#1", "status": "SHIPPED", "_is_deleted": true, "_expired_by_ttl": false},
  {"_event_name": "INSERT", "$sk_name": "order#2", "status": "NEW", "total": 1.5},
  {"_event_name": "MODIFY", "$sk_name": "order#2", "status": "PAID"}
]
EOF
env ${consumer_profile:+AWS_PROFILE="$consumer_profile"} "${PYTHON:-python3}" scripts/smoke_check.py \
    --bucket "$bucket" --prefix "$prefix" --table "$table" --match "$pk_name=$pk" \
    --expect "$work/expect.json" --since "$since" --timeout "$timeout" --poll 20 \
    --error-prefix "$error_prefix" ${region:+--region "$region"} \
    || fail "the rows of $pk_name=$pk did not arrive in S3 as expected (see above)"

echo "== 3. Athena ($workgroup)"
athena() {  # SQL -> result rows as tab-separated lines (header dropped)
    local id state reason
    id=$(consumer athena start-query-execution --work-group "$workgroup" \
        --query-execution-context "Database=$database" --query-string "$1" \
        --query QueryExecutionId --output text) || fail "Athena refused the query: $1"
    for _ in $(seq 1 120); do
        state=$(consumer athena get-query-execution --query-execution-id "$id" \
            --query QueryExecution.Status.State --output text)
        case "$state" in
            SUCCEEDED) break ;;
            FAILED|CANCELLED)
                reason=$(consumer athena get-query-execution --query-execution-id "$id" \
                    --query QueryExecution.Status.StateChangeReason --output text)
                fail "Athena query $id $state: $reason" ;;
        esac
        sleep 2
    done
    [ "$state" = SUCCEEDED ] || fail "Athena query $id still $state after 4 minutes"
    # Parsed in Python: the CLI's own --query drops NULL cells, which would shift columns.
    consumer athena get-query-results --query-execution-id "$id" --output json | "${PYTHON:-python3}" -c '
import json, sys
for row in json.load(sys.stdin)["ResultSet"]["Rows"][1:]:
    print("\t".join(cell.get("VarCharValue", "") for cell in row["Data"]))'
}

# The keeper's partition columns are "table" and "datehour" ('year=YYYY/month=MM/day=DD/hour=HH',
# projected by date): a range from 3 hours before the changes keeps Athena to a few partitions.
from_hour=$("${PYTHON:-python3}" -c '
import datetime as dt, sys
t = dt.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ") - dt.timedelta(hours=3)
print(t.strftime("year=%Y/month=%m/day=%d/hour=%H"))' "$since")
# total is a number column (decimal, the keeper's type for these values): read back as text and
# compared as exact decimals, not only the strings.
changes=$(athena "SELECT \"$sk_name\", _event_name, status, CAST(total AS varchar) FROM \"$database\".\"$glue_table\"
    WHERE \"table\" = '$table' AND \"datehour\" >= '$from_hour' AND \"$pk_name\" = '$pk'
    ORDER BY _event_time")
echo "$changes"
[ "$(printf '%s\n' "$changes" | grep -c .)" -ge 5 ] || fail "Athena sees $(printf '%s\n' "$changes" | grep -c .) change rows for $pk, expected 5"
printf '%s\n' "$changes" | "${PYTHON:-python3}" -c '
import sys
from decimal import Decimal
expected = {("order#1", "INSERT"): Decimal(sys.argv[1]), ("order#2", "INSERT"): Decimal("1.5")}
seen = {}
for line in sys.stdin.read().splitlines():
    sk, event, _status, total = (line.split("\t") + ["", "", "", ""])[:4]
    if (sk, event) in expected:
        seen[(sk, event)] = Decimal(total) if total else None
if seen != expected:
    sys.exit(f"number column total through Athena: expected {expected}, got {seen}")' "$total" \
    || fail "Athena's total (a number column) is not the exact value written"

current=$(athena "SELECT \"$sk_name\", status FROM \"$database\".\"${glue_table}_current\" WHERE \"$pk_name\" = '$pk'")
echo "current state: $current"
[ "$current" = "$(printf 'order#2\tPAID')" ] \
    || fail "current state of $pk should be only order#2 with status PAID (order#1 was deleted), got: $current"

echo "SMOKE TEST PASSED: changes of $pk_name=$pk arrived in S3 as flattened rows and Athena sees them"
