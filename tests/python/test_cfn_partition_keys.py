"""The Firehose S3 prefix of every template uses exactly the partition keys the Lambda returns, and
the schema keeper is told the same table prefix and invoked for every object under it.

These must agree, or rows land where Athena never looks (or Firehose sends every record to the
error prefix): the Lambda's `metadata.partitionKeys` (seen in the committed sample response), the
Firehose `Prefix` (`!{partitionKeyFromLambda:KEY}`), and the schema keeper's TABLE_PREFIX and S3
event filter, from which it writes each Glue table's partition projection (no template declares a
Glue table: src/catalog tests the projection the keeper writes against this layout).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "cloudformation").glob("*.yaml"))
SAMPLE_RESPONSE = ROOT / "sample-records" / "firehose-event.expected.json"
KEYS = ["table", "year", "month", "day", "hour"]  # transform contract, in prefix order
DIGITS = {"year": 4, "month": 2, "day": 2, "hour": 2}
LAMBDA_KEY = re.compile(r"!\{partitionKeyFromLambda:([^}]*)\}")


def load(path: Path) -> dict:
    template, problems = decode(str(path))
    assert template is not None, f"{path.name} does not parse: {problems}"
    return template


def resources(template: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == type_}


def text(value) -> str:
    """A string property, plain or !Sub (whose ${!x} escapes stand for a literal ${x})."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        value = value[0] if isinstance(value, list) else value
        return re.sub(r"\$\{!", "${", value)
    assert isinstance(value, str), f"expected a string or Fn::Sub, got {value!r}"
    return value


def firehose_prefixes() -> list[tuple[str, str, str]]:
    out = []
    for path in TEMPLATES:
        for name, res in resources(load(path), "AWS::KinesisFirehose::DeliveryStream").items():
            dest = res["Properties"]["ExtendedS3DestinationConfiguration"]
            out.append((path.name, name, text(dest["Prefix"])))
    return out


def glue_tables() -> list[tuple[str, str, dict]]:
    return [(path.name, name, res["Properties"]["TableInput"])
            for path in TEMPLATES for name, res in resources(load(path), "AWS::Glue::Table").items()]


def keepers() -> list[tuple[str, str, dict]]:
    """The schema keepers: functions told a GLUE_DATABASE."""
    return [(path.name, name, res["Properties"]) for path in TEMPLATES
            for name, res in resources(load(path), "AWS::Serverless::Function").items()
            if "GLUE_DATABASE" in res["Properties"].get("Environment", {}).get("Variables", {})]


def layout(path: str) -> str:
    """The partition part of a prefix or location, with every key written as {key}."""
    path = LAMBDA_KEY.sub(r"{\1}", path)
    path = re.sub(r"\$\{(table|year|month|day|hour)\}", r"{\1}", path)
    return path[path.index("table="):]


def lambda_partition_keys() -> list[dict[str, str]]:
    if not SAMPLE_RESPONSE.exists():
        pytest.fail(f"{SAMPLE_RESPONSE.relative_to(ROOT)} is missing: it is the Lambda's response to "
                    f"the sample Firehose event and the only evidence of the partition keys it returns")
    response = json.loads(SAMPLE_RESPONSE.read_text())
    keys = [r["metadata"]["partitionKeys"] for r in response["records"] if r.get("result") == "Ok"]
    assert keys, f"{SAMPLE_RESPONSE.name} has no record with result Ok"
    return keys


def test_every_lake_template_is_covered():
    names = {p.name for p in TEMPLATES}
    assert {"lake-single-account.yaml", "lake-producer.yaml", "lake-consumer.yaml"} <= names
    assert {t for t, _, _ in firehose_prefixes()} == {"lake-single-account.yaml", "lake-producer.yaml"}
    assert {t for t, _, _ in keepers()} == {"lake-single-account.yaml", "lake-consumer.yaml"}
    # The schema keeper makes every Glue table from the data; a declared one would fight it.
    assert glue_tables() == []


@pytest.mark.parametrize("template, resource, prefix", firehose_prefixes(),
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".yaml") else "")
def test_firehose_prefix_uses_exactly_the_lambda_keys(template, resource, prefix):
    used = LAMBDA_KEY.findall(prefix)
    assert used == KEYS, f"{template} {resource}: prefix keys {used}, contract keys {KEYS}"
    assert layout(prefix) == "table={table}/year={year}/month={month}/day={day}/hour={hour}/"
    for record_keys in lambda_partition_keys():
        assert set(used) == set(record_keys), (
            f"{template}: the prefix uses {sorted(used)}, the Lambda returns {sorted(record_keys)}")


def test_lambda_returns_the_contract_keys_as_strings_fitting_the_projection():
    for keys in lambda_partition_keys():
        assert sorted(keys) == sorted(KEYS)
        assert all(isinstance(v, str) for v in keys.values()), keys
        for key, digits in DIGITS.items():
            assert re.fullmatch(rf"\d{{{digits}}}", keys[key]), f"{key}={keys[key]!r} is not {digits} digits"


@pytest.mark.parametrize("template, resource, keeper", keepers(),
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".yaml") else "")
def test_the_schema_keeper_reads_the_firehose_layout(template, resource, keeper):
    env = keeper["Environment"]["Variables"]
    assert env["TABLE_PREFIX"] == {"Ref": "TablePrefix"}
    assert env["PROJECTION_START_YEAR"] == {"Ref": "ProjectionStartYear"}
    assert "PROJECTION_END_YEAR" not in env  # the projection ends at NOW
    # Every object Firehose writes (and every key-schema object) under the prefix invokes it.
    (event,) = [e["Properties"] for e in keeper["Events"].values() if e["Type"] == "S3"]
    assert event["Events"] == "s3:ObjectCreated:*"
    assert event["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "TablePrefix"}}]
    # The prefix Firehose writes under is that same parameter, whatever the stack.
    for fh_template, _, prefix in firehose_prefixes():
        assert prefix.startswith("${TablePrefix}table="), f"{fh_template}: {prefix}"
