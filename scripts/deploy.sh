#!/usr/bin/env bash
# Deploys and tears down the ddb-lake stacks with the AWS CLI's own CloudFormation commands
# (`aws cloudformation package` uploads the Lambda zip, `aws cloudformation deploy` creates or
# updates the stack). See README.md (Deploying to AWS) for the whole walk-through.
#
#   scripts/deploy.sh single   --stack NAME --artifact-bucket BUCKET [--tables T1,T2] [options] [-- Key=Value ...]
#   scripts/deploy.sh consumer --stack NAME --artifact-bucket BUCKET --producer-account ID --producer-stack NAME
#                              [options] [-- Key=Value ...]
#   scripts/deploy.sh producer --stack NAME --artifact-bucket BUCKET [--tables T1,T2]
#                              --consumer-stack NAME [--consumer-profile P] [options] [-- Key=Value ...]
#   scripts/deploy.sh backfill --stack NAME --artifact-bucket BUCKET --lake-stack NAME
#                              -- ExportBucketName=.. [ExportKmsKeyArn=..] [MaxConcurrency=..]
#   scripts/deploy.sh teardown --stack NAME [--delete-data] [options]
#
# options: --region R  --profile P  --arch arm64|x86_64  --no-build (reuse target/lambda/*.zip)
#          --tables T1,T2 (single, producer; or TABLES=...): existing tables of the stack's account
#            and region to feed the lake (ExistingTableNames parameter); --tables '' goes back to the
#            demo table. Without it a new stack creates the demo table and an existing one keeps its list.
#          --source kinesis|dynamodb-streams (single, producer; or CHANGE_SOURCE=...): how changes
#            leave the tables (ChangeSource parameter; README.md, "Which change source"). Without it a
#            new stack uses kinesis and an existing one keeps its source.
#          --delete-data (teardown): also delete what the stack keeps (lake bucket, demo table, keys).
# Key=Value pairs after `--` are template parameters (e.g. TableName=orders LambdaInVpc=true).
# The deploying principal needs iam:CreateServiceLinkedRole for DynamoDB's Kinesis replication role
# (kinesisreplication.dynamodb.amazonaws.com) the first time a table of the account streams to
# Kinesis: the table attachment asks for it, in the name of its own role, which may create it.
#
# Written for bash 3.2 (macOS) too: no mapfile, no ${x,,}, and every array that can be empty is
# expanded as ${a[@]+"${a[@]}"} (bash < 4.4 treats an empty "${a[@]}" as unset under set -u).
set -euo pipefail
# The AWS CLI v2 pipes output through a pager by default, which waits for a key press.
export AWS_PAGER=""

cd "$(dirname "${BASH_SOURCE[0]}")/.."
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

[ $# -ge 1 ] || usage 64
case "$1" in -h|--help) usage ;; esac
command="$1"; shift
stack="" artifact_bucket="" region="" profile="" arch="${ARCH:-arm64}" build=true
producer_account="" producer_stack="" consumer_stack="" consumer_profile="" source_choice="${CHANGE_SOURCE:-}" lake_stack=""
delete_data=false
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
        --producer-stack) producer_stack="$2"; shift 2 ;;
        --delete-data) delete_data=true; shift ;;
        --consumer-stack) consumer_stack="$2"; shift 2 ;;
        --consumer-profile) consumer_profile="$2"; shift 2 ;;
        --source) source_choice="$2"; shift 2 ;;
        --tables) tables_given=yes; tables="$2"; shift 2 ;;
        --lake-stack) lake_stack="$2"; shift 2 ;;
        --) shift; [ $# -eq 0 ] || overrides+=("$@"); break ;;
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

# Firehose cannot turn source-record backup off once it is on (Firehose Developer Guide, "Back up
# source records"): an update asking for it would fail halfway, so it is refused before it starts.
refuse_backup_turned_off() {  # the parameter overrides about to be passed
    local pair current
    for pair in "$@"; do
        [ "$pair" = "BackupRawRecords=false" ] || continue
        current=$(aws_ cloudformation describe-stacks --stack-name "$stack" \
            --query "Stacks[0].Parameters[?ParameterKey=='BackupRawRecords'].ParameterValue | [0]" --output text 2>/dev/null || true)
        if [ "$current" = "true" ]; then
            echo "BackupRawRecords=false: stack $stack backs up its source records, and Firehose cannot turn that off once on (delete and recreate the stack to drop it)" >&2
            exit 64
        fi
    done
}

# The Glue database is named after the stack by default, and Glue names are lower-case.
refuse_upper_case_stack() {
    case "$stack" in
        *[A-Z]*) echo "--stack $stack: use a lower-case stack name (the Glue database is named after it), or pass -- GlueDatabaseName=..." >&2; exit 64 ;;
    esac
}

stack_status() {  # the stack's status, or NONE when it does not exist
    aws_ cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}

resource_id() {  # physical ID of a resource by logical ID, or nothing: works in any stack state
    local id
    id=$(aws_ cloudformation describe-stack-resources --stack-name "$stack" --logical-resource-id "$1" \
        --query 'StackResources[0].PhysicalResourceId' --output text 2>/dev/null || true)
    [ "$id" = None ] || printf '%s' "$id"
}

table_exists() { aws_ dynamodb describe-table --table-name "$1" >/dev/null 2>&1; }

case "$command" in
    single)
        bins=(bootstrap table-attach schema-keeper)
        refuse_upper_case_stack
        refuse_backup_turned_off ${overrides[@]+"${overrides[@]}"}
        packaged=$(build_and_package cloudformation/lake-single-account.yaml "${bins[@]}")
        architecture=$(lambda_architecture "${bins[@]}")
        deploy "$packaged" "LambdaArchitecture=$architecture" \
            ${source_overrides[@]+"${source_overrides[@]}"} ${table_overrides[@]+"${table_overrides[@]}"} ${overrides[@]+"${overrides[@]}"}
        ;;
    consumer)
        [ -n "$producer_account" ] || { echo "--producer-account (account A's ID) is required" >&2; exit 64; }
        # The producer's roles are admitted by their IAM path, which holds its stack's name.
        [ -n "$producer_stack" ] || { echo "--producer-stack (the producer stack's name in account A) is required" >&2; exit 64; }
        refuse_upper_case_stack
        packaged=$(build_and_package cloudformation/lake-consumer.yaml schema-keeper)
        architecture=$(lambda_architecture schema-keeper)
        deploy "$packaged" "ProducerAccountId=$producer_account" "ProducerStackName=$producer_stack" \
            "LambdaArchitecture=$architecture" ${overrides[@]+"${overrides[@]}"}
        ;;
    producer)
        # Everything the producer needs from the consumer comes from its outputs, never retyped.
        [ -n "$consumer_stack" ] || { echo "--consumer-stack (the consumer stack's name in account B) is required" >&2; exit 64; }
        consumer_aws=(aws ${consumer_profile:+--profile "$consumer_profile"} ${region:+--region "$region"})
        admitted=$(output "$consumer_stack" ProducerStackName "${consumer_aws[@]}")
        [ "$admitted" = "$stack" ] || { echo "consumer stack $consumer_stack admits the producer stack '$admitted', not $stack: deploy the consumer with --producer-stack $stack" >&2; exit 65; }
        from_consumer=()
        for key in ConsumerAccountId LakeBucketName LakeKmsKeyArn TablePrefix ErrorPrefix; do
            value=$(output "$consumer_stack" "$key" "${consumer_aws[@]}")
            [ -n "$value" ] && [ "$value" != None ] || { echo "consumer stack $consumer_stack has no output $key" >&2; exit 65; }
            from_consumer+=("$key=$value")
        done
        refuse_backup_turned_off ${overrides[@]+"${overrides[@]}"}
        bins=(bootstrap table-attach)
        packaged=$(build_and_package cloudformation/lake-producer.yaml "${bins[@]}")
        architecture=$(lambda_architecture "${bins[@]}")
        deploy "$packaged" "LambdaArchitecture=$architecture" ${from_consumer[@]+"${from_consumer[@]}"} \
            ${source_overrides[@]+"${source_overrides[@]}"} ${table_overrides[@]+"${table_overrides[@]}"} ${overrides[@]+"${overrides[@]}"}
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
        deploy "$packaged" "LambdaArchitecture=$architecture" ${from_lake[@]+"${from_lake[@]}"} ${overrides[@]+"${overrides[@]}"}
        ;;
    teardown)
        # Works from any state, finding resources by logical ID (a failed create has no outputs).
        status=$(stack_status)
        while case "$status" in *_IN_PROGRESS) true ;; *) false ;; esac; do
            echo "stack $stack is $status: waiting for it to settle"
            sleep 20
            status=$(stack_status)
        done
        echo "stack $stack: $status"
        # A stack whose first create failed never held data: what its rollback left is removed too.
        case "$status" in ROLLBACK_COMPLETE|ROLLBACK_FAILED) delete_data=true ;; esac
        table="" bucket="" keys=""
        if [ "$status" != NONE ]; then
            table=$(resource_id SourceTable)
            bucket=$(resource_id LakeBucket)
            keys="$(resource_id LakeKey) $(resource_id SourceKey)"
        fi
        if [ -n "$table" ] && table_exists "$table"; then
            # The table attachment turns streaming off when the stack goes, which needs an ACTIVE
            # table (not CREATING, UPDATING, or enabling its streaming).
            echo "waiting for DynamoDB table $table to be ACTIVE"
            aws_ dynamodb wait table-exists --table-name "$table"
        fi
        if [ "$status" != NONE ] && [ "$status" != DELETE_COMPLETE ]; then
            # A second try after DELETE_FAILED: a Lambda's network interfaces (LambdaInVpc) can take
            # 20 minutes to go, and the subnets wait for them.
            for attempt in 1 2; do
                aws_ cloudformation delete-stack --stack-name "$stack"
                if aws_ cloudformation wait stack-delete-complete --stack-name "$stack"; then
                    echo "stack $stack deleted"
                    break
                fi
                if [ "$attempt" = 2 ]; then
                    echo "stack $stack did not delete; the resources that failed:" >&2
                    aws_ cloudformation describe-stack-resources --stack-name "$stack" \
                        --query "StackResources[?ResourceStatus=='DELETE_FAILED'].[LogicalResourceId,ResourceStatusReason]" --output text >&2 || true
                    echo "fix the cause and run this again, or leave them: aws cloudformation delete-stack --stack-name $stack --retain-resources <logical IDs>" >&2
                    exit 1
                fi
            done
        fi
        # Deleting the stack kept the data (DeletionPolicy RetainExceptOnCreate): the lake bucket,
        # the demo table and the keys that encrypt them.
        if ! $delete_data; then
            echo "kept (delete them with --delete-data, or yourself):"
            [ -z "$bucket" ] || echo "  s3://$bucket (the lake)"
            [ -z "$table" ] || echo "  DynamoDB table $table (the demo table; deploy again with --tables $table to feed it to a new stack, or delete it before deploying the demo table again)"
            for key in $keys; do echo "  KMS key $key (encrypts what is kept: delete it last, with aws kms schedule-key-deletion)"; done
            exit 0
        fi
        if [ -n "$table" ] && table_exists "$table"; then
            echo "deleting DynamoDB table $table"
            aws_ dynamodb update-table --table-name "$table" --no-deletion-protection-enabled >/dev/null
            aws_ dynamodb wait table-exists --table-name "$table"
            aws_ dynamodb delete-table --table-name "$table" >/dev/null
            aws_ dynamodb wait table-not-exists --table-name "$table"
        fi
        if [ -n "$bucket" ] && aws_ s3api head-bucket --bucket "$bucket" 2>/dev/null; then
            empty_versioned_bucket "$bucket"
            aws_ s3api delete-bucket --bucket "$bucket"
            echo "deleted s3://$bucket"
        fi
        for key in $keys; do
            if aws_ kms schedule-key-deletion --key-id "$key" --pending-window-in-days 30 >/dev/null 2>&1; then
                echo "KMS key $key scheduled for deletion in 30 days (aws kms cancel-key-deletion brings it back)"
            fi
        done
        ;;
    *) usage 64 ;;
esac
