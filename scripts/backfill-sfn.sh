#!/usr/bin/env bash
# Backfills a DynamoDB export into the lake with the backfill stack's Step Functions state machine
# (cloudformation/backfill.yaml, deployed with `scripts/deploy.sh backfill`), one Lambda invocation
# per data file, and waits, showing the data files done. Prints the summary (items, rows, failed
# items, files) and exits 0 when every data file was loaded, 1 otherwise (the files that were not
# are listed with their reasons; running it again loads them and rewrites the same objects).
#
#   scripts/backfill-sfn.sh --stack BACKFILL_STACK --export-arn ARN [--region R] [--profile P]
#
# The export must be a COMPLETED DYNAMODB_JSON full export in the bucket the stack was given
# (ExportBucketName). Needs the AWS CLI v2.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
stack="" export_arn="" region="" profile=""
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) stack="$2"; shift 2 ;;
        --export-arn) export_arn="$2"; shift 2 ;;
        --region) region="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage 64 ;;
    esac
done
[ -n "$stack" ] && [ -n "$export_arn" ] || { echo "--stack and --export-arn are required" >&2; usage 64; }
aws_() { aws ${profile:+--profile "$profile"} ${region:+--region "$region"} "$@"; }

# Where the export is: its bucket, and the folder of manifest-summary.json.
read -r status format bucket manifest <<<"$(aws_ dynamodb describe-export --export-arn "$export_arn" \
    --query 'ExportDescription.[ExportStatus, ExportFormat, S3Bucket, ExportManifest]' --output text)"
[ "$status" = COMPLETED ] || { echo "export $export_arn is $status, not COMPLETED" >&2; exit 65; }
[ "$format" = DYNAMODB_JSON ] || { echo "export $export_arn is $format; only DYNAMODB_JSON can be loaded" >&2; exit 65; }
folder="${manifest%manifest-summary.json}"
machine=$(aws_ cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue | [0]" --output text)
[ -n "$machine" ] && [ "$machine" != None ] || { echo "stack $stack has no StateMachineArn output" >&2; exit 65; }

export_id="${export_arn##*/}"
input=$(printf '{"exportBucket":"%s","exportFolder":"%s"}' "$bucket" "$folder")
execution=$(aws_ stepfunctions start-execution --state-machine-arn "$machine" \
    --name "backfill-$export_id-$(date -u +%Y%m%dT%H%M%S)" --input "$input" \
    --query executionArn --output text)
echo "started $execution"
echo "  export s3://$bucket/$folder"

# Progress: the map run's item counts (one item per data file), every 10 seconds.
started=$(date +%s)
map_run=""
while true; do
    state=$(aws_ stepfunctions describe-execution --execution-arn "$execution" --query status --output text)
    if [ -z "$map_run" ] || [ "$map_run" = None ]; then
        map_run=$(aws_ stepfunctions list-map-runs --execution-arn "$execution" \
            --query 'mapRuns[0].mapRunArn' --output text 2>/dev/null || true)
    fi
    if [ -n "$map_run" ] && [ "$map_run" != None ]; then
        read -r total done failed running <<<"$(aws_ stepfunctions describe-map-run --map-run-arn "$map_run" \
            --query 'itemCounts.[total, succeeded, failed, running]' --output text)"
        line="$(( $(date +%s) - started )) s: data files $done/$total loaded, $running running, $failed failed"
    else
        line="$(( $(date +%s) - started )) s: reading the export's manifest"
    fi
    if [ -t 1 ]; then printf '\r\033[K%s' "$line"; else echo "$line"; fi
    [ "$state" = RUNNING ] || break
    sleep 10
done
[ -t 1 ] && echo

case "$state" in
    SUCCEEDED)
        aws_ stepfunctions describe-execution --execution-arn "$execution" --query output --output text
        echo "backfill of $export_id: every data file loaded"
        ;;
    *)
        read -r error <<<"$(aws_ stepfunctions describe-execution --execution-arn "$execution" --query error --output text)"
        aws_ stepfunctions describe-execution --execution-arn "$execution" --query cause --output text
        echo "backfill of $export_id: $state ($error). Failed data files are listed above; run again to load them." >&2
        exit 1
        ;;
esac
