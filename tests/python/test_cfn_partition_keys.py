"""The Firehose S3 prefix of every template uses exactly the partition keys the Lambda returns, and
the Glue table's partition projection reads the same layout.

Three places must agree, or rows land where Athena never looks (or Firehose sends every record to
the error prefix): the Lambda's `metadata.partitionKeys` (seen in the committed sample response),
the Firehose `Prefix` (`!{partitionKeyFromLambda:KEY}`), and the Glue table's partition keys,
projection settings and `storage.location.template`.
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
    assert {t for t, _, _ in glue_tables()} == {"lake-single-account.yaml", "lake-consumer.yaml"}


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


@pytest.mark.parametrize("template, resource, table", glue_tables(),
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".yaml") else "")
def test_glue_projection_reads_the_firehose_layout(template, resource, table):
    params = table["Parameters"]
    assert [k["Name"] for k in table["PartitionKeys"]] == KEYS
    assert all(k["Type"] == "string" for k in table["PartitionKeys"]), "keys are the Lambda's strings"
    assert params["projection.enabled"] == "true"
    assert params["projection.table.type"] == "enum"
    assert params["projection.table.values"] == {"Ref": "TableName"}
    for key, digits in DIGITS.items():
        assert params[f"projection.{key}.type"] == "integer"
        assert params[f"projection.{key}.digits"] == str(digits), f"{key} must be zero-padded like the Lambda's"
    assert params["projection.month.range"] == "1,12"
    assert params["projection.day.range"] == "1,31"
    assert params["projection.hour.range"] == "0,23"
    projected = {k.split(".")[1] for k in params if k.startswith("projection.") and k != "projection.enabled"}
    assert projected == set(KEYS)

    location = text(params["storage.location.template"])
    assert location.startswith("s3://${LakeBucket}/${TablePrefix}table=")
    assert layout(location) == "table={table}/year={year}/month={month}/day={day}/hour={hour}/"
    assert re.findall(r"\$\{(\w+)\}", location.split("${TablePrefix}", 1)[1]) == KEYS

    # And it is the same layout Firehose writes.
    for fh_template, _, prefix in firehose_prefixes():
        assert layout(location) == layout(prefix), f"{template} Glue vs {fh_template} Firehose"
        assert text(table["StorageDescriptor"]["Location"]) == "s3://${LakeBucket}/${TablePrefix}"
