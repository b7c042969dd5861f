#!/usr/bin/env bash
# Deploys and tears down the ddb-lake stacks with the AWS CLI's own CloudFormation commands
# (`aws cloudformation package` uploads the Lambda zip, `aws cloudformation deploy` creates or
# updates the stack). See README.md (Deploying to AWS) for the whole walk-through.
#
#   scripts/deploy.sh single   --stack NAME --artifact-bucket BUCKET [--tables T1,T2] [options] [-- Key=Value ...]
#   scripts/deploy.sh consumer --stack NAME --artifact-bucket BUCKET --producer-account ID [options] [-- Key=Value ...]
#   scripts/deploy.sh producer --stack NAME --artifact-bucket BUCKET [--tables T1,T2]
#                              (--consumer-stack NAME [--consumer-profile P] | -- ConsumerAccountId=.. LakeBucketName=.. LakeKmsKeyArn=..)
#                              [options] [-- Key=Value ...]
#   scripts/deploy.sh backfill --stack NAME --artifact-bucket BUCKET --lake-stack NAME
#                              -- ExportBucketName=.. [ExportKmsKeyArn=..] [MaxConcurrency=..]
#   scripts/deploy.sh teardown --stack NAME [options]
#
# options: --region R  --profile P  --arch arm64|x86_64  --no-build (reuse target/lambda/*.zip)
#          --tables T1,T2 (single, producer; or TABLES=...): existing tables of the stack's account
#            and region to feed the lake (ExistingTableNames parameter); --tables '' goes back to the
#            demo table. Without it a new stack creates the demo table and an existing one keeps its list.
#          --source kinesis|dynamodb-streams (single, producer; or CHANGE_SOURCE=...): how changes
#            leave the tables (ChangeSource parameter; README.md, "Which change source"). Without it a
#            new stack uses kinesis and an existing one keeps its source.
# Key=Value pairs after `--` are template parameters (e.g. TableName=orders LambdaInVpc=true).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

[ $# -ge 1 ] || usage 64
case "$1" in -h|--help) usage ;; esac
command="$1"; shift
stack="" artifact_bucket="" region="" profile="" arch="${ARCH:-arm64}" build=true
producer_account="" consumer_stack="" consumer_profile="" source_choice="${CHANGE_SOURCE:-}" lake_stack=""
tables_given="${TABLES+yes}" tables="${TABLES:-}"
overrides=()
while [ $# -gt 0 ]; do
    case "$1" in
        --stack) stack="$2"; shift 2 ;;
        --artifact-bucket) artifact_bucket="$2"; shift 2 ;;
        --region) region="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --arch) arch="$2"; shift 2 ;;
        --no-build) build=false; shift ;;
        --producer-account) producer_account="$2"; shift 2 ;;
        --consumer-stack) consumer_stack="$2"; shift 2 ;;
        --consumer-profile) consumer_profile="$2"; shift 2 ;;
        --source) source_choice="$2"; shift 2 ;;
        --tables) tables_given=yes; tables="$2"; shift 2 ;;
        --lake-stack) lake_stack="$2"; shift 2 ;;
        --) shift; overrides+=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage 64 ;;
    esac
done
[ -n "$stack" ] || { echo "--stack is required" >&2; exit 64; }
# Passed only when chosen: `aws cloudformation deploy` keeps an existing stack's value otherwise,
# and switching sources replaces the delivery stream (README.md, "Switching the source").
source_overrides=()
if [ -n "$source_choice" ]; then
    case "$source_choice" in
        kinesis) change_source=KinesisDataStreams ;;
        dynamodb-streams) change_source=DynamoDBStreams ;;
        *) echo "--source (CHANGE_SOURCE) must be kinesis or dynamodb-streams, not: $source_choice" >&2; exit 64 ;;
    esac
    source_overrides=("ChangeSource=$change_source")
fi
# Likewise: an existing stack keeps its tables unless --tables names them. Table names are
# [a-zA-Z0-9_.-]{3,255} (DynamoDB), so a comma never belongs to a name.
table_overrides=()
if [ -n "$tables_given" ]; then
    tables=$(printf '%s' "$tables" | tr -d '[:space:]')
    if [ -n "$tables" ] && ! printf '%s' "$tables" | grep -Eq '^[a-zA-Z0-9_.-]{3,255}(,[a-zA-Z0-9_.-]{3,255})*$'; then
        echo "--tables (TABLES) must be DynamoDB table names separated by commas, not: $tables" >&2; exit 64
    fi
    table_overrides=("ExistingTableNames=$tables")
fi

aws_() { aws ${profile:+--profile "$profile"} ${region:+--region "$region"} "$@"; }
output() {  # stack output value: output STACK KEY [extra aws args...]
    local s="$1" k="$2"; shift 2
    "$@" cloudformation describe-stacks --stack-name "$s" \
        --query "Stacks[0].Outputs[?OutputKey=='$k'].OutputValue | [0]" --output text
}

build_and_package() {  # template binary... -> packaged template path
    local template="$1" bin packaged="target/lambda/packaged-$stack.yaml"
    shift
    [ -n "$artifact_bucket" ] || { echo "--artifact-bucket is required (an S3 bucket in the stack's region for the Lambda zips)" >&2; exit 64; }
    for bin in "$@"; do
        if $build || [ ! -f "target/lambda/$bin.zip" ]; then
            scripts/build-lambda.sh --arch "$arch" --bin "$bin" >&2
        fi
    done
    # Each CodeUri ../target/lambda/<bin>.zip is uploaded; the packaged copy points at S3.
    aws_ cloudformation package --template-file "$template" --s3-bucket "$artifact_bucket" \
        --s3-prefix "ddb-lake/$stack" --output-template-file "$packaged" >&2
    echo "$packaged"
}

# Called as `architecture=$(lambda_architecture ...)`, so that its exit stops the script (set -e).
lambda_architecture() {  # binary... -> the architecture they were all built for
    local bin first="" this
    for bin in "$@"; do
        this=$(cat "target/lambda/$bin.arch")
        first=${first:-$this}
        [ "$this" = "$first" ] || { echo "target/lambda/$bin.zip is built for $this, $1.zip for $first: build them alike (--arch)" >&2; exit 65; }
    done
    echo "$first"
}

deploy() {  # template file, then parameter overrides
    local template="$1"; shift
    local args=(--template-file "$template" --stack-name "$stack"
                --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND
                --no-fail-on-empty-changeset)
    # Through S3 when there is a bucket: inline template bodies are limited to 51,200 bytes.
    [ -z "$artifact_bucket" ] || args+=(--s3-bucket "$artifact_bucket" --s3-prefix "ddb-lake/$stack")
    [ $# -eq 0 ] || args+=(--parameter-overrides "$@")
    aws_ cloudformation deploy "${args[@]}"
    aws_ cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output table
}

empty_versioned_bucket() {  # every version and delete marker, or the bucket cannot be deleted
    local bucket="$1"
    echo "emptying s3://$bucket (all versions)"
    env ${profile:+AWS_PROFILE="$profile"} ${region:+AWS_DEFAULT_REGION="$region"} \
        "${PYTHON:-python3}" -c 'import boto3, sys; boto3.resource("s3").Bucket(sys.argv[1]).object_versions.delete()' "$bucket"
}

case "$command" in
    single)
        bins=(bootstrap table-attach schema-keeper)
        packaged=$(build_and_package cloudformation/lake-single-account.yaml "${bins[@]}")
        architecture=$(lambda_architecture "${bins[@]}")
        deploy "$packaged" "LambdaArchitecture=$architecture" \
            "${source_overrides[@]}" "${table_overrides[@]}" "${overrides[@]}"
        ;;
    consumer)
        [ -n "$producer_account" ] || { echo "--producer-account (account A's ID) is required" >&2; exit 64; }
        packaged=$(build_and_package cloudformation/lake-consumer.yaml schema-keeper)
        architecture=$(lambda_architecture schema-keeper)
        deploy "$packaged" "ProducerAccountId=$producer_account" "LambdaArchitecture=$architecture" "${overrides[@]}"
        ;;
    producer)
        from_consumer=()
        if [ -n "$consumer_stack" ]; then
            consumer_aws=(aws ${consumer_profile:+--profile "$consumer_profile"} ${region:+--region "$region"})
            for key in ConsumerAccountId LakeBucketName LakeKmsKeyArn TablePrefix ErrorPrefix; do
                value=$(output "$consumer_stack" "$key" "${consumer_aws[@]}")
                [ -n "$value" ] && [ "$value" != None ] || { echo "consumer stack $consumer_stack has no output $key" >&2; exit 65; }
                from_consumer+=("$key=$value")
            done
        fi
        bins=(bootstrap table-attach)
        packaged=$(build_and_package cloudformation/lake-producer.yaml "${bins[@]}")
        architecture=$(lambda_architecture "${bins[@]}")
        deploy "$packaged" "LambdaArchitecture=$architecture" "${from_consumer[@]}" \
            "${source_overrides[@]}" "${table_overrides[@]}" "${overrides[@]}"
        ;;
    backfill)
        [ -n "$lake_stack" ] || { echo "--lake-stack (the lake stack's name) is required" >&2; exit 64; }
        from_lake=()
        for key in LakeBucketName LakeKmsKeyArn TablePrefix ErrorPrefix; do
            value=$(output "$lake_stack" "$key" aws_)
            [ -n "$value" ] && [ "$value" != None ] || { echo "lake stack $lake_stack has no output $key" >&2; exit 65; }
            from_lake+=("$key=$value")
        done
        packaged=$(build_and_package cloudformation/backfill.yaml backfill-lambda)
        architecture=$(lambda_architecture backfill-lambda)
        deploy "$packaged" "LambdaArchitecture=$architecture" "${from_lake[@]}" "${overrides[@]}"
        ;;
    teardown)
        # The demo table only (existing tables are never deleted: the stack only turns their
        # streaming to the lake off).
        table=$(output "$stack" SourceTableName aws_)
        bucket=$(output "$stack" LakeBucketName aws_)
        if [ -n "$table" ] && [ "$table" != None ]; then
            echo "turning off deletion protection of DynamoDB table $table"
            aws_ dynamodb update-table --table-name "$table" --no-deletion-protection-enabled >/dev/null
        fi
        owns_bucket=false
        if [ -n "$bucket" ] && [ "$bucket" != None ] && \
           [ "$(aws_ cloudformation describe-stack-resources --stack-name "$stack" --logical-resource-id LakeBucket \
                 --query 'StackResources[0].PhysicalResourceId' --output text 2>/dev/null)" = "$bucket" ]; then
            owns_bucket=true
            empty_versioned_bucket "$bucket"
        fi
        # Firehose may still deliver while the stack goes; if the bucket refuses to go, empty it
        # again (by then the delivery stream is gone) and retry once.
        for attempt in 1 2; do
            aws_ cloudformation delete-stack --stack-name "$stack"
            if aws_ cloudformation wait stack-delete-complete --stack-name "$stack"; then
                echo "stack $stack deleted (its KMS keys are scheduled for deletion, 30 days)"
                exit 0
            fi
            if [ "$attempt" = 2 ] || ! $owns_bucket; then break; fi
            empty_versioned_bucket "$bucket"
        done
        echo "stack $stack did not delete: see its events (aws cloudformation describe-stack-events)" >&2
        exit 1
        ;;
    *) usage 64 ;;
esac
