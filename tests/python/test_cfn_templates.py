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


@pytest.mark.parametrize("parameter", ["TableName", "PartitionKeyName", "SortKeyName", "TtlAttributeName",
                                       "TablePrefix", "ErrorPrefix"])
def test_shared_parameters_have_the_same_defaults(parameter):
    assert default(SINGLE, parameter) == default(PRODUCER, parameter) == default(CONSUMER, parameter)


def test_consumer_admits_the_role_the_producer_creates():
    assert default(CONSUMER, "ProducerFirehoseRoleName") == default(PRODUCER, "FirehoseRoleName")
    role = PRODUCER["Resources"]["FirehoseRole"]["Properties"]
    assert role["RoleName"] == {"Ref": "FirehoseRoleName"}


@pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
def test_lambda_settings_are_parameters_with_the_contract_defaults(t):
    (function,) = [r for r in t["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    env = function["Properties"]["Environment"]["Variables"]
    contract = {"FLATTEN_SEPARATOR": "_", "METADATA_PREFIX": "_", "LIST_MODE": "array",
                "MAX_RESPONSE_BYTES": 6000000}
    assert set(env) == set(contract)
    for variable, value in contract.items():
        parameter = env[variable]["Ref"]
        assert default(t, parameter) == value, variable
    assert t["Parameters"]["ListMode"]["AllowedValues"] == ["array", "json_string"]
    props = function["Properties"]
    assert props["Handler"] == "bootstrap" and props["Runtime"] == "provided.al2023"
    assert props["CodeUri"] == "../target/lambda/bootstrap.zip"  # what scripts/build-lambda.sh writes
    assert props["Architectures"] == [{"Ref": "LambdaArchitecture"}]
    assert default(t, "LambdaArchitecture") == "arm64"


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
