"""The stacks serve any table: existing tables attached by the `table-attach` custom resource (or
the demo table when none is named), and Glue tables kept by the `schema-keeper` Lambda, nothing of
a sample's schema written in a template.

Each template is resolved as CloudFormation would create it (cfn_variants.resolve) for each
ExistingTableNames and ChangeSource, and checked as a whole: what the attachment is told, what each
new role may do (exactly), how the consumer admits the producer's attachment role, that the
resources never wait for each other in a circle (SAM's S3 event included), and that the one saved
query runs without naming a column.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from cfnlint.decode import decode

from cfn_variants import resolve

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["KinesisDataStreams", "DynamoDBStreams"]
TABLE_LISTS = ["", "orders,devices"]


def template(name: str) -> dict:
    t, problems = decode(str(ROOT / "cloudformation" / name))
    assert t is not None, problems
    return t


SINGLE, PRODUCER, CONSUMER = (template(f"lake-{n}.yaml") for n in ("single-account", "producer", "consumer"))
WITH_TABLES = pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
WITH_LAKE = pytest.mark.parametrize("t", [SINGLE, CONSUMER], ids=["single", "consumer"])
TABLE_ARNS = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}


def granted(policy: dict) -> dict[str, object]:
    """Action -> Resource of a resolved IAM policy's Allow statements (one resource per action)."""
    out = {}
    for s in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert s["Effect"] == "Allow"
        for action in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
            assert action not in out, f"{action} granted twice"
            out[action] = s["Resource"]
    return out


# ------------------------------------------------------------------ the table attachment

@WITH_TABLES
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("tables", TABLE_LISTS)
def test_the_attachment_is_told_the_tables_the_source_and_the_lake(t, source, tables):
    stack = resolve(t, ChangeSource=source, ExistingTableNames=tables)["Resources"]
    (attachment,) = [r for r in stack.values() if r["Type"] == "Custom::TableAttachment"]
    props = attachment["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["TableAttachFunction", "Arn"]}
    assert stack["TableAttachFunction"]["Properties"]["CodeUri"] == "../target/lambda/table-attach.zip"
    # Never empty: the demo table when no existing table is named.
    assert props["TableNames"] == ([{"Ref": "SourceTable"}] if not tables else {"Ref": "ExistingTableNames"})
    assert ("SourceTable" in stack) is (not tables)
    assert props["ChangeSource"] == {"Ref": "ChangeSource"}
    if source == "KinesisDataStreams":
        assert props["StreamArn"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}
    else:
        assert "StreamArn" not in props
    assert props["TablePrefix"] == {"Ref": "TablePrefix"}
    if t is SINGLE:
        assert (props["LakeBucket"], props["LakeKmsKeyArn"]) == ({"Ref": "LakeBucket"}, {"Fn::GetAtt": ["LakeKey", "Arn"]})
    else:
        assert (props["LakeBucket"], props["LakeKmsKeyArn"]) == ({"Ref": "LakeBucketName"}, {"Ref": "LakeKmsKeyArn"})
    # Streaming starts once Firehose reads: it starts at the time its delivery stream is created.
    assert attachment["DependsOn"] == "DeliveryStream"


@WITH_TABLES
@pytest.mark.parametrize("tables", TABLE_LISTS)
def test_outputs_name_the_tables(t, tables):
    outputs = resolve(t, ExistingTableNames=tables)["Outputs"]
    assert outputs["SourceTableNames"]["Value"] == {
        "Fn::Join": [",", [{"Ref": "SourceTable"}] if not tables else {"Ref": "ExistingTableNames"}]}
    # The demo table's name and keys only where there is one (scripts/smoke-test.sh writes to it).
    demo = {"SourceTableName", "PartitionKeyName", "SortKeyName"}
    assert (demo <= set(outputs)) is (not tables) and (not demo & set(outputs)) is bool(tables)


def test_the_demo_table_is_created_only_without_existing_tables():
    for t in (SINGLE, PRODUCER):
        assert t["Conditions"]["CreateDemoTable"] == {"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ExistingTableNames"}]}, ""]}
        parameter = t["Parameters"]["ExistingTableNames"]
        assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "")
        assert t["Resources"]["SourceTable"]["Condition"] == "CreateDemoTable"


@WITH_TABLES
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("tables", TABLE_LISTS)
def test_the_attachment_role_may_do_exactly_its_job(t, source, tables):
    stack = resolve(t, ChangeSource=source, ExistingTableNames=tables)["Resources"]
    trust = stack["TableAttachRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    table = {"Fn::GetAtt": ["SourceTable", "Arn"]} if not tables else TABLE_ARNS
    want = {action: table for action in (
        "dynamodb:DescribeTable", "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
        "dynamodb:UpdateKinesisStreamingDestination")}
    want["logs:CreateLogStream"] = want["logs:PutLogEvents"] = {"Fn::GetAtt": ["TableAttachLogGroup", "Arn"]}
    if source == "KinesisDataStreams":
        stream = {"Fn::GetAtt": ["ChangeStream", "Arn"]}
        want.update({"kinesis:DescribeStream": stream, "kinesis:DescribeStreamSummary": stream,
                     "kinesis:PutRecords": stream, "kinesis:ListStreams": "*",
                     "iam:CreateServiceLinkedRole": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
                                                     "kinesisreplication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBKinesisDataStreamsReplication"}})
    else:
        want["dynamodb:UpdateTable"] = table  # the table's own DynamoDB stream, only with that source
    if t is SINGLE:
        want["s3:PutObject"] = {"Fn::Sub": "${LakeBucket.Arn}/${TablePrefix}_key_schemas/*"}
        want["kms:GenerateDataKey"] = {"Fn::GetAtt": ["LakeKey", "Arn"]}
    else:
        want["s3:PutObject"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::${LakeBucketName}/${TablePrefix}_key_schemas/*"}
        want["kms:GenerateDataKey"] = {"Ref": "LakeKmsKeyArn"}
    assert granted(stack["TableAttachRolePolicy"]) == want
    # The function starts with its permissions in place.
    assert stack["TableAttachFunction"]["DependsOn"] == "TableAttachRolePolicy"


# ------------------------------------------------------------------ cross-account: the producer's attachment

def test_the_consumer_admits_the_producers_attachment_role_for_key_schemas_only():
    role = {"ArnLike": {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ProducerAccountId}:role/ddb-lake/${AWS::Region}/${ProducerStackName}/tables/*"}}}
    producer_root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ProducerAccountId}:root"}}
    bucket = CONSUMER["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (put,) = [s for s in bucket if s.get("Condition", {}).get("ArnLike") == role["ArnLike"]]
    assert put == {"Sid": "ProducerTablesWriteKeySchemas", "Effect": "Allow", "Principal": producer_root,
                   "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${LakeBucket.Arn}/${TablePrefix}_key_schemas/*"},
                   "Condition": role}
    key = CONSUMER["Resources"]["LakeKey"]["Properties"]["KeyPolicy"]["Statement"]
    (encrypt,) = [s for s in key if s.get("Condition", {}).get("ArnLike") == role["ArnLike"]]
    assert encrypt["Principal"] == producer_root and encrypt["Action"] == "kms:GenerateDataKey"
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    # The producer puts its attachment role under that path, and writes where the consumer admits it.
    assert PRODUCER["Resources"]["TableAttachRole"]["Properties"]["Path"] == {"Fn::Sub": "/ddb-lake/${AWS::Region}/${AWS::StackName}/tables/"}


# ------------------------------------------------------------------ the schema keeper

@WITH_LAKE
def test_the_schema_keeper_is_told_the_catalog_and_invoked_by_the_bucket(t):
    keeper = t["Resources"]["SchemaKeeperFunction"]["Properties"]
    assert keeper["CodeUri"] == "../target/lambda/schema-keeper.zip"
    assert keeper["Environment"]["Variables"] == {
        "GLUE_DATABASE": {"Ref": "GlueDatabase"}, "TABLE_PREFIX": {"Ref": "TablePrefix"},
        "PROJECTION_START_YEAR": {"Ref": "ProjectionStartYear"}}
    (event,) = keeper["Events"].values()
    assert event == {"Type": "S3", "Properties": {
        "Bucket": {"Ref": "LakeBucket"}, "Events": "s3:ObjectCreated:*",
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": {"Ref": "TablePrefix"}}]}}}}
    # S3 invokes it asynchronously: what still fails after Lambda's retries is kept 14 days.
    assert keeper["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["SchemaKeeperDeadLetterQueue", "Arn"]}}
    queue = t["Resources"]["SchemaKeeperDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": ["LakeKey", "Arn"]} and queue["MessageRetentionPeriod"] == 1209600
    assert keeper["Timeout"] <= 900 and keeper["LoggingConfig"]["LogGroup"] == {"Ref": "SchemaKeeperLogGroup"}


@WITH_LAKE
def test_the_schema_keeper_may_do_exactly_its_job(t):
    glue = [{"Fn::Sub": f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:{r}"}
            for r in ("catalog", "database/${GlueDatabase}", "table/${GlueDatabase}/*")]
    assert granted(t["Resources"]["SchemaKeeperRolePolicy"]) == {
        "logs:CreateLogStream": {"Fn::GetAtt": ["SchemaKeeperLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["SchemaKeeperLogGroup", "Arn"]},
        "s3:GetObject": {"Fn::Sub": "${LakeBucket.Arn}/${TablePrefix}*"},
        "glue:GetDatabase": glue, "glue:GetTable": glue, "glue:CreateTable": glue, "glue:UpdateTable": glue,
        "sqs:SendMessage": {"Fn::GetAtt": ["SchemaKeeperDeadLetterQueue", "Arn"]},
        "kms:Decrypt": {"Fn::GetAtt": ["LakeKey", "Arn"]}, "kms:GenerateDataKey": {"Fn::GetAtt": ["LakeKey", "Arn"]},
    }
    assert t["Resources"]["SchemaKeeperRolePolicy"]["Properties"]["Roles"] == [{"Ref": "SchemaKeeperRole"}]


def test_the_consumer_key_serves_the_keeper_through_its_services():
    (use,) = [s for s in CONSUMER["Resources"]["LakeKey"]["Properties"]["KeyPolicy"]["Statement"]
              if s["Sid"] == "UseThroughLakeServices"]
    services = {v["Fn::Sub"].split(".")[0] for v in use["Condition"]["StringEquals"]["kms:ViaService"]}
    assert services == {"s3", "lambda", "sqs"}  # objects, the function's environment, its dead-letter queue
    sids = {s["Sid"] for s in CONSUMER["Resources"]["LakeKey"]["Properties"]["KeyPolicy"]["Statement"]}
    assert "CloudWatchLogsEncryptsThisStacksLogGroups" in sids


# ------------------------------------------------------------------ nothing of a sample's schema

def sample_attribute_names() -> set[str]:
    """Every attribute name of the committed sample tables' items, nested map keys included."""
    names: set[str] = set()

    def walk(image: dict) -> None:
        for name, value in image.items():
            names.add(name)
            if "M" in value:
                walk(value["M"])
            for element in value.get("L", []):
                if "M" in element:
                    walk(element["M"])

    for path in (ROOT / "sample-records").glob("*change-records.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)["dynamodb"]
            for image in ("Keys", "NewImage", "OldImage"):
                walk(record.get(image, {}))
    return names


def strings(node) -> set[str]:
    """Every string of a template part, keys included; CodeUri (a local file path) left out."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set(node).union(*(strings(v) for k, v in node.items() if k != "CodeUri"))
    if isinstance(node, list):
        return set().union(*map(strings, node))
    return set()


# The lake's own partition columns (transform contract), which a sample attribute may share on
# purpose (the devices sample has a `year`): the layout, not a sample's schema.
PARTITION_KEYS = {"table", "year", "month", "day", "hour"}


@pytest.mark.parametrize("name", ["lake-single-account.yaml", "lake-producer.yaml", "lake-consumer.yaml", "backfill.yaml"])
def test_no_template_names_a_sample_attribute(name):
    sample = sample_attribute_names()
    assert {"status", "total", "tags", "pk", "sk", "expires_at"} <= sample  # the orders sample is read
    sample -= PARTITION_KEYS
    t = template(name)
    # Resources and outputs (queries, Glue definitions, policies...): words of every string in them.
    words = {w for s in strings({"Resources": t["Resources"], "Outputs": t.get("Outputs", {})})
             for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s)}
    assert not words & sample, f"{name} names sample attributes: {sorted(words & sample)}"
    # Parameters: only the demo table's own key and TTL attribute names, as the defaults of the table
    # the stack creates when no existing table is named (the consumer never names one).
    defaults = {p: str(v.get("Default")) for p, v in t.get("Parameters", {}).items()}
    named = {p for p, v in defaults.items() if v in sample}
    assert named <= {"PartitionKeyName", "SortKeyName", "TtlAttributeName"}, named


@WITH_LAKE
def test_the_saved_query_lists_the_keepers_tables_without_naming_a_column(t):
    (query,) = [r["Properties"] for r in t["Resources"].values() if r["Type"] == "AWS::Athena::NamedQuery"]
    sql = query["QueryString"]["Fn::Sub"].replace("${GlueDatabase}", "ddb_lake")
    db = duckdb.connect()
    db.execute("CREATE SCHEMA ddb_lake")
    db.execute('CREATE TABLE ddb_lake.orders_changes ("_event_id" VARCHAR, "Total" DECIMAL(38,6))')
    db.execute("CREATE VIEW ddb_lake.orders_changes_current AS SELECT * FROM ddb_lake.orders_changes")
    rows = db.execute(sqlglot.transpile(sql, read="athena", write="duckdb")[0]).fetchall()
    assert [(r[0], r[3]) for r in rows] == [("orders_changes", "_event_id"), ("orders_changes", "Total"),
                                            ("orders_changes_current", "_event_id"), ("orders_changes_current", "Total")]
    assert {r[1] for r in rows} == {"BASE TABLE", "VIEW"}


# ------------------------------------------------------------------ no circular waits

def dependencies(resources: dict) -> dict[str, set[str]]:
    """Who waits for whom, as CloudFormation orders them once SAM has expanded its resources: Ref,
    GetAtt, ${Name} and DependsOn, plus SAM's S3 event (the bucket waits for the permission it adds,
    which waits for the function: AWS SAM, "S3" event source)."""
    from cfn_variants import references

    graph = {}
    for name, body in resources.items():
        depends = body.get("DependsOn", [])
        # SAM moves a function's events out of it (here: onto the bucket, below).
        properties = {k: v for k, v in body.get("Properties", {}).items() if k != "Events"}
        graph[name] = (references(properties) | set([depends] if isinstance(depends, str) else depends)) & set(resources)
    for name, body in resources.items():
        for event in body.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "S3":
                graph[event["Properties"]["Bucket"]["Ref"]].add(name)
    return graph


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A chain of resources each waiting for the next and back to the first, if there is one."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for other in sorted(graph[name]):
            found = visit(other, path + [name])
            if found:
                return found
        done.add(name)
        return None

    return next((c for c in (visit(n, []) for n in sorted(graph)) if c), None)


@pytest.mark.parametrize("t", [SINGLE, PRODUCER, CONSUMER], ids=["single", "producer", "consumer"])
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("tables", TABLE_LISTS)
def test_no_resource_waits_for_itself(t, source, tables):
    found = circle(dependencies(resolve(t, ChangeSource=source, ExistingTableNames=tables)["Resources"]))
    assert found is None, "circular dependency: " + " -> ".join(found)


def test_the_circle_check_sees_the_bucket_waiting_for_the_keeper():
    # The keeper's function waiting for its policy, which names the bucket: the classic circle.
    resources = json.loads(json.dumps(resolve(SINGLE)["Resources"]))
    resources["SchemaKeeperFunction"]["DependsOn"] = "SchemaKeeperRolePolicy"
    assert circle(dependencies(resources)) == ["LakeBucket", "SchemaKeeperFunction", "SchemaKeeperRolePolicy", "LakeBucket"]


# ------------------------------------------------------------------ scripts/deploy.sh

def test_deploy_passes_the_tables_to_single_and_producer():
    text = (ROOT / "scripts" / "deploy.sh").read_text()
    assert 'table_overrides=("ExistingTableNames=$tables")' in text
    assert text.count('"${table_overrides[@]}"') == 2
    assert "    single)\n        bins=(bootstrap table-attach schema-keeper)\n" in text
    producer = text[text.index("    producer)\n"):text.index("    backfill)\n")]
    assert "        bins=(bootstrap table-attach)\n" in producer
    assert "build_and_package cloudformation/lake-consumer.yaml schema-keeper" in text
