"""The three templates agree with each other, with the Lambda's settings and with the scripts that
read their outputs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]


def template(name: str) -> dict:
    t, problems = decode(str(ROOT / "cloudformation" / name))
    assert t is not None, problems
    return t


SINGLE, PRODUCER, CONSUMER = (template(f"lake-{n}.yaml") for n in ("single-account", "producer", "consumer"))


def default(t: dict, parameter: str):
    return t["Parameters"][parameter].get("Default")


@pytest.mark.parametrize("parameter", ["TablePrefix", "ErrorPrefix", "GlueDatabaseName", "ProjectionStartYear",
                                       "LambdaArchitecture", "LogRetentionDays"])
def test_shared_parameters_are_the_same(parameter):
    # Same values allowed and the same default (descriptions may say which stack's value to copy).
    present = [{k: v for k, v in t["Parameters"][parameter].items() if k != "Description"}
               for t in (SINGLE, PRODUCER, CONSUMER) if parameter in t["Parameters"]]
    assert len(present) >= 2 and all(p == present[0] for p in present), parameter


@pytest.mark.parametrize("parameter", ["ExistingTableNames", "TableName", "PartitionKeyName", "SortKeyName",
                                       "TtlAttributeName", "TableDeletionProtection"])
def test_table_parameters_are_the_same_where_tables_are(parameter):
    assert SINGLE["Parameters"][parameter] == PRODUCER["Parameters"][parameter]
    assert parameter not in CONSUMER["Parameters"]  # the consumer never names a table


def test_consumer_admits_the_roles_the_producer_creates():
    # No fixed role name (IAM is global: two producers, or one in two regions, would collide): the
    # producer's roles sit under a path naming region and stack, which the consumer admits.
    for logical, purpose in [("FirehoseRole", "firehose"), ("TableAttachRole", "tables")]:
        role = PRODUCER["Resources"][logical]["Properties"]
        assert "RoleName" not in role
        assert role["Path"] == {"Fn::Sub": f"/ddb-lake/${{AWS::Region}}/${{AWS::StackName}}/{purpose}/"}
        pattern = f"arn:${{AWS::Partition}}:iam::${{ProducerAccountId}}:role/ddb-lake/${{AWS::Region}}/${{ProducerStackName}}/{purpose}/*"
        text = str(CONSUMER["Resources"]["LakeBucketPolicy"]) + str(CONSUMER["Resources"]["LakeKey"])
        assert pattern in text, purpose
    assert "ProducerStackName" in CONSUMER["Parameters"] and "FirehoseRoleName" not in PRODUCER["Parameters"]


@pytest.mark.parametrize("t", [SINGLE, PRODUCER, CONSUMER], ids=["single", "producer", "consumer"])
def test_no_iam_role_has_a_fixed_name(t):
    roles = {n: r for n, r in t["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles and all("RoleName" not in r["Properties"] for r in roles.values())


@pytest.mark.parametrize("t", [SINGLE, CONSUMER], ids=["single", "consumer"])
def test_the_glue_database_is_named_after_the_stack_by_default(t):
    assert t["Parameters"]["GlueDatabaseName"]["Default"] == ""
    name = t["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"]
    condition, derived, given = name["Fn::If"]
    assert t["Conditions"][condition] == {"Fn::Equals": [{"Ref": "GlueDatabaseName"}, ""]}
    assert derived == {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}
    assert given == {"Ref": "GlueDatabaseName"}
    # What CloudFormation makes of a stack name: Glue's [a-z0-9_] for a lower-case one.
    assert "_".join("ddb-lake-prod-2".split("-")) == "ddb_lake_prod_2"


@pytest.mark.parametrize("t", [SINGLE, PRODUCER, CONSUMER], ids=["single", "producer", "consumer"])
def test_data_outlives_the_stack_but_not_a_failed_create(t):
    stores = {n: r for n, r in t["Resources"].items()
              if r["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table")}
    assert stores
    for name, resource in stores.items():
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert resource["UpdateReplacePolicy"] == "Retain", name
    if "TableDeletionProtection" in t["Parameters"]:
        assert t["Parameters"]["TableDeletionProtection"]["Default"] == "false"


@pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
def test_vpc_cleanup_permissions_do_not_depend_on_the_vpc(t):
    statements = t["Resources"]["TransformRolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    plain = [s for s in statements if "Effect" in s]
    actions = {a for s in plain for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses", "ec2:DescribeNetworkInterfaces"} <= actions
    # The subnets and security groups are deleted before the policy.
    for name in ("PrivateSubnetA", "PrivateSubnetB", "LambdaSecurityGroup"):
        assert t["Resources"][name]["DependsOn"] == "TransformRolePolicy", name


@pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
def test_backup_raw_records_says_it_cannot_be_turned_off(t):
    assert "cannot turn source-record backup off" in " ".join(t["Parameters"]["BackupRawRecords"]["Description"].split())


def functions(t: dict) -> dict[str, dict]:
    return {n: r for n, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


@pytest.mark.parametrize("t,names", [
    (SINGLE, {"TransformFunction": "bootstrap", "TableAttachFunction": "table-attach", "SchemaKeeperFunction": "schema-keeper"}),
    (PRODUCER, {"TransformFunction": "bootstrap", "TableAttachFunction": "table-attach"}),
    (CONSUMER, {"SchemaKeeperFunction": "schema-keeper"}),
], ids=["single", "producer", "consumer"])
def test_each_function_runs_the_binary_build_lambda_zips(t, names):
    assert {n: f["Properties"]["CodeUri"] for n, f in functions(t).items()} == \
        {n: f"../target/lambda/{b}.zip" for n, b in names.items()}  # what scripts/build-lambda.sh --bin writes
    for f in functions(t).values():
        props = f["Properties"]
        assert props["Handler"] == "bootstrap" and props["Runtime"] == "provided.al2023"
        assert props["Architectures"] == [{"Ref": "LambdaArchitecture"}]
    assert default(t, "LambdaArchitecture") == "arm64"
    build = (ROOT / "scripts" / "build-lambda.sh").read_text()
    assert all(f"|{b}" in build or f"{b}|" in build for b in names.values()), "build-lambda.sh accepts each --bin"


@pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
def test_lambda_settings_are_parameters_with_the_contract_defaults(t):
    function = functions(t)["TransformFunction"]
    env = function["Properties"]["Environment"]["Variables"]
    contract = {"FLATTEN_SEPARATOR": "_", "METADATA_PREFIX": "_", "LIST_MODE": "array",
                "MAX_RESPONSE_BYTES": 6000000}
    assert set(env) == set(contract)
    for variable, value in contract.items():
        parameter = env[variable]["Ref"]
        assert default(t, parameter) == value, variable
    assert t["Parameters"]["ListMode"]["AllowedValues"] == ["array", "json_string"]


def script_outputs(script: str) -> dict[str, set[str]]:
    """Stack outputs a script reads, by the side it reads them from."""
    text = (ROOT / "scripts" / script).read_text()
    found: dict[str, set[str]] = {}
    for side, key in re.findall(r'output (producer|consumer) "\$\w+" (\w+)', text):
        found.setdefault(side, set()).add(key)
    return found


def outputs(t: dict) -> set[str]:
    return set(t["Outputs"])


def test_smoke_test_reads_outputs_the_stacks_have():
    wanted = script_outputs("smoke-test.sh")
    assert wanted["producer"] and wanted["consumer"]
    assert wanted["producer"] <= outputs(PRODUCER)
    assert wanted["consumer"] <= outputs(CONSUMER)
    assert wanted["producer"] | wanted["consumer"] <= outputs(SINGLE)


def test_deploy_passes_consumer_outputs_to_producer_parameters():
    text = (ROOT / "scripts" / "deploy.sh").read_text()
    keys = re.search(r"for key in ([\w ]+); do", text).group(1).split()
    assert set(keys) <= outputs(CONSUMER)
    assert set(keys) <= set(PRODUCER["Parameters"])
    assert {"ConsumerAccountId", "LakeBucketName", "LakeKmsKeyArn"} <= set(keys)
