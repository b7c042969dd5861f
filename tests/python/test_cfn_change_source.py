"""The stacks' change source: the tables' Kinesis Data Streams streaming destination (the default)
or one table's DynamoDB stream read by an EventBridge pipe into the same delivery stream (Direct
PUT), turned on by the table attachment (a custom resource) for the demo table or existing tables.

Each template is resolved as CloudFormation would create it for each ChangeSource value (conditions
evaluated, Fn::If branches chosen) and checked as a whole: which resources exist, that nothing
refers to a resource the variant leaves out, and the settings that protect the data.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

from cfn_variants import conditions, defaults, references, resolve

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["KinesisDataStreams", "DynamoDBStreams"]
TABLE_LISTS = ["", "orders,devices"]  # ExistingTableNames: the demo table, or existing tables
STREAM_RETENTION_SECONDS = 24 * 3600  # DynamoDB Streams keeps records 24 hours


def template(name: str) -> dict:
    t, problems = decode(str(ROOT / "cloudformation" / name))
    assert t is not None, problems
    return t


SINGLE, PRODUCER = template("lake-single-account.yaml"), template("lake-producer.yaml")
STACKS = pytest.mark.parametrize("t,key", [(SINGLE, "LakeKey"), (PRODUCER, "SourceKey")],
                                 ids=["single", "producer"])
PIPE_RESOURCES = {"PipeRole", "PipeRolePolicy", "PipeDeadLetterQueue", "PipeLogGroup", "ChangePipe",
                  "PipeFailuresAlarm", "DeadLetterQueueAlarm"}


def of_type(resources: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in resources.items() if r["Type"] == type_}


def processor_parameters(delivery_stream: dict) -> dict[str, object]:
    (processor,) = delivery_stream["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    return {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}


@STACKS
def test_the_default_source_is_unchanged(t, key):
    parameter = t["Parameters"]["ChangeSource"]
    assert parameter["Default"] == "KinesisDataStreams"
    assert parameter["AllowedValues"] == SOURCES
    assert SINGLE["Parameters"]["ChangeSource"]["AllowedValues"] == PRODUCER["Parameters"]["ChangeSource"]["AllowedValues"]


@STACKS
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("in_vpc", ["false", "true"])
@pytest.mark.parametrize("tables", TABLE_LISTS)
def test_every_reference_resolves_in_every_variant(t, key, source, in_vpc, tables):
    stack = resolve(t, ChangeSource=source, LambdaInVpc=in_vpc, ExistingTableNames=tables)
    known = set(stack["Resources"]) | set(stack["Parameters"])
    for section in ("Resources", "Outputs"):
        for name, body in stack[section].items():
            missing = {r for r in references(body) if not r.startswith("AWS::")} - known
            assert not missing, f"{section}.{name} refers to {missing}, absent with ChangeSource={source}"


@STACKS
def test_kinesis_source_creates_the_stream_and_no_pipe(t, key):
    stack = resolve(t, ChangeSource="KinesisDataStreams")["Resources"]
    assert "ChangeStream" in stack and not PIPE_RESOURCES & set(stack)
    table = stack["SourceTable"]["Properties"]
    assert table["KinesisStreamSpecification"]["StreamArn"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}
    assert "StreamSpecification" not in table
    delivery = stack["DeliveryStream"]["Properties"]
    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert delivery["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}
    assert "DeliveryStreamEncryptionConfigurationInput" not in delivery  # the Kinesis stream encrypts
    assert processor_parameters(stack["DeliveryStream"])["BufferSizeInMBs"] == {"Ref": "ProcessorBufferSizeMB"}


@STACKS
def test_dynamodb_streams_source_creates_the_pipe_and_no_kinesis_stream(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")["Resources"]
    assert "ChangeStream" not in stack and "KinesisEndpoint" not in stack
    assert PIPE_RESOURCES <= set(stack)
    table = stack["SourceTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "KinesisStreamSpecification" not in table
    # Direct PUT: records reach the delivery stream only through the pipe, encrypted with the key.
    delivery = stack["DeliveryStream"]["Properties"]
    assert delivery["DeliveryStreamType"] == "DirectPut"
    assert "KinesisStreamSourceConfiguration" not in delivery
    assert delivery["DeliveryStreamEncryptionConfigurationInput"] == {
        "KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": {"Fn::GetAtt": [key, "Arn"]}}
    # The same Lambda, the same lake.
    assert processor_parameters(stack["DeliveryStream"])["LambdaArn"] == {"Fn::GetAtt": ["TransformFunction", "Arn"]}
    # Nothing of ours puts records back on a stream: the function has no Kinesis permission.
    statements = stack["TransformRolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert not [s for s in statements if "kinesis:PutRecords" in str(s["Action"])]


@STACKS
def test_the_direct_put_processor_buffer_is_1_mib_and_a_different_setting_is_refused(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")["Resources"]
    assert processor_parameters(stack["DeliveryStream"])["BufferSizeInMBs"] == "1"
    # The template's Rules refuse another ProcessorBufferSizeMB rather than ignore it.
    (rule,) = t["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ChangeSource"}, "DynamoDBStreams"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "ProcessorBufferSizeMB"}, "1"]}
    assert "ProcessorBufferSizeMB" in assertion["AssertDescription"]
    assert defaults(t)["ProcessorBufferSizeMB"] == 1  # the default passes the rule


@STACKS
def test_the_pipe_reads_the_tables_stream_into_the_delivery_stream(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")["Resources"]
    (pipe,) = of_type(stack, "AWS::Pipes::Pipe").values()
    props = pipe["Properties"]
    assert props["Source"] == {"Fn::GetAtt": ["TableAttachment", "LatestStreamArn"]}
    assert props["Target"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}
    assert props["RoleArn"] == {"Fn::GetAtt": ["PipeRole", "Arn"]}
    assert props["DesiredState"] == "RUNNING"
    assert "PipeRolePolicy" in pipe["DependsOn"]  # permissions exist when the pipe checks its source
    assert "TargetParameters" not in props and "Enrichment" not in props  # records pass unchanged
    assert props["LogConfiguration"]["Level"] == "ERROR"
    assert "IncludeExecutionData" not in props["LogConfiguration"]  # item contents never in logs


@STACKS
def test_the_pipe_settings_protect_the_data(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")
    (pipe,) = of_type(stack["Resources"], "AWS::Pipes::Pipe").values()
    source = pipe["Properties"]["SourceParameters"]["DynamoDBStreamParameters"]
    assert source["StartingPosition"] == "TRIM_HORIZON"
    assert source["OnPartialBatchItemFailure"] == "AUTOMATIC_BISECT"
    assert source["ParallelizationFactor"] == 1
    assert source["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["PipeDeadLetterQueue", "Arn"]}}
    # Bounded retries, enough to halve the largest batch down to one record (and one more).
    params = t["Parameters"]
    largest_batch = params["PipeBatchSize"]["MaxValue"]
    assert largest_batch <= 500  # Firehose's PutRecordBatch limit
    assert 0 <= (largest_batch - 1).bit_length() < source["MaximumRetryAttempts"] <= 100
    # Given up on while the stream still holds the record, with most of the 24 hours left.
    age = source["MaximumRecordAgeInSeconds"]
    assert 60 <= age <= STREAM_RETENTION_SECONDS / 2
    assert source["BatchSize"] == {"Ref": "PipeBatchSize"}
    assert source["MaximumBatchingWindowInSeconds"] == {"Ref": "PipeBatchingWindowSeconds"}
    assert (params["PipeBatchSize"]["MinValue"], params["PipeBatchingWindowSeconds"]["MinValue"],
            params["PipeBatchingWindowSeconds"]["MaxValue"]) == (1, 0, 300)  # PipeSourceDynamoDBStreamParameters


@STACKS
def test_the_dead_letter_queue_is_encrypted_and_kept_14_days(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")["Resources"]
    queue = stack["PipeDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    log_group = stack["PipeLogGroup"]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@STACKS
def test_the_pipe_role_may_do_exactly_its_job(t, key):
    stack = resolve(t, ChangeSource="DynamoDBStreams")["Resources"]
    trust = stack["PipeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "pipes.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]
    assert not stack["PipeRole"]["Properties"].get("Policies") and not stack["PipeRole"]["Properties"].get("ManagedPolicyArns")
    granted = {}
    for s in stack["PipeRolePolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        assert s["Effect"] == "Allow" and "Condition" not in s
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]):
            granted[action] = s["Resource"]
    stream = {"Fn::GetAtt": ["TableAttachment", "LatestStreamArn"]}
    assert granted == {
        "dynamodb:DescribeStream": stream, "dynamodb:GetRecords": stream, "dynamodb:GetShardIterator": stream,
        "dynamodb:ListStreams": "*",  # names no stream: cannot be scoped
        "firehose:PutRecord": {"Fn::GetAtt": ["DeliveryStream", "Arn"]},
        "firehose:PutRecordBatch": {"Fn::GetAtt": ["DeliveryStream", "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": ["PipeDeadLetterQueue", "Arn"]},
        "kms:Decrypt": {"Fn::GetAtt": [key, "Arn"]}, "kms:GenerateDataKey": {"Fn::GetAtt": [key, "Arn"]},
        "logs:CreateLogStream": {"Fn::GetAtt": ["PipeLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["PipeLogGroup", "Arn"]},
    }


@STACKS
def test_the_key_admits_the_pipe_only_with_that_source(t, key):
    # By the role's IAM path in an aws:PrincipalArn condition, not by the role as principal.
    path = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ddb-lake/${AWS::Region}/${AWS::StackName}/pipe/*"

    def pipe_statements(source):
        policy = resolve(t, ChangeSource=source)["Resources"][key]["Properties"]["KeyPolicy"]
        return {s["Sid"]: s for s in policy["Statement"]
                if s.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn") == {"Fn::Sub": path}}

    assert pipe_statements("KinesisDataStreams") == {}
    (statement,) = pipe_statements("DynamoDBStreams").values()
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert resolve(t, ChangeSource="DynamoDBStreams")["Resources"]["PipeRole"]["Properties"]["Path"] == {
        "Fn::Sub": "/ddb-lake/${AWS::Region}/${AWS::StackName}/pipe/"}
    # Creating the encrypted Direct PUT stream: Firehose makes a grant in the deployer's name, for
    # an AWS resource only.
    (grant,) = [s for s in resolve(t, ChangeSource="DynamoDBStreams")["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
                if "kms:CreateGrant" in s["Action"]]
    assert {"Fn::Sub": "firehose.${AWS::Region}.amazonaws.com"} in grant["Condition"]["StringEquals"]["kms:ViaService"]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


@STACKS
def test_outputs_follow_the_source(t, key):
    kinesis = resolve(t, ChangeSource="KinesisDataStreams")["Outputs"]
    streams = resolve(t, ChangeSource="DynamoDBStreams")["Outputs"]
    assert "ChangeStreamArn" in kinesis and "ChangeStreamArn" not in streams
    assert {"TableStreamArn", "PipeName", "PipeDeadLetterQueueUrl", "PipeLogGroupName",
            "PipeFailuresAlarmName", "DeadLetterQueueAlarmName"} <= set(streams) - set(kinesis)
    assert kinesis["ChangeSource"]["Value"] == {"Ref": "ChangeSource"}


def test_the_condition_names_mean_what_they_say():
    for t in (SINGLE, PRODUCER):
        for source in SOURCES:
            chosen = conditions(t, {**defaults(t), "ChangeSource": source})
            assert chosen["KinesisSource"] is (source == "KinesisDataStreams")
            assert chosen["DynamoDBStreamsSource"] is (source == "DynamoDBStreams")


def test_deploy_passes_the_chosen_source():
    text = (ROOT / "scripts" / "deploy.sh").read_text()
    choices = dict(re.findall(r"^\s*([a-z-]+)\) change_source=(\w+) ;;", text, re.M))
    assert choices == {"kinesis": "KinesisDataStreams", "dynamodb-streams": "DynamoDBStreams"}
    assert set(choices.values()) == set(SOURCES)
    assert text.count('source_overrides=("ChangeSource=$change_source")') == 1
    assert text.count('"${source_overrides[@]}"') == 2  # single and producer
