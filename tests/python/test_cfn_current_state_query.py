"""The templates' current-state query, run locally: translated from Athena SQL to DuckDB and run over
the committed sample rows, loaded with the Glue table's own column list and types.

It must give, per primary key, the latest image by _event_time, count a duplicate delivery (same
_event_id) once, and leave deleted keys out - computed independently below. Changes with the same
_event_time go by the stream's sequence number, Kinesis's or the DynamoDB stream's (whose change
times have whole seconds only).
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from cfnlint.decode import decode

from current_state_model import expected_current_state

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ROWS = ROOT / "sample-records" / "firehose-event.expected-rows.jsonl"
TEMPLATES = ["lake-single-account.yaml", "lake-consumer.yaml"]
NAMES = {"GlueDatabase": "lake", "ChangesTable": "orders_changes", "PartitionKeyName": "pk",
         "SortKeyName": "sk", "TtlAttributeName": "expires_at"}
DUCKDB_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "bigint": "BIGINT",
                "decimal(38,6)": "DECIMAL(38,6)", "array<string>": "VARCHAR[]"}


def resource(template: dict, type_: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def sub(value, names=NAMES) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([A-Za-z]+)\}", lambda m: names[m.group(1)], text)


def rows() -> list[dict]:
    if not SAMPLE_ROWS.exists():
        pytest.fail(f"{SAMPLE_ROWS.relative_to(ROOT)} is missing")
    return [json.loads(line, parse_float=Decimal) for line in SAMPLE_ROWS.read_text().splitlines() if line]


def run_current_state(template_name: str, sample: list[dict]) -> dict[tuple, dict]:
    """The template's saved current-state query over `sample`, loaded into its Glue table's columns."""
    template, problems = decode(str(ROOT / "cloudformation" / template_name))
    assert template is not None, problems
    (glue_table,) = resource(template, "AWS::Glue::Table")
    queries = {q["Properties"]["Name"]["Fn::Sub"]: q["Properties"]["QueryString"]
               for q in resource(template, "AWS::Athena::NamedQuery")}
    select = sub(queries["${GlueTableName} current state"])
    view = sub(queries["Create view ${GlueTableName}_current"])
    assert view.startswith('CREATE OR REPLACE VIEW "lake"."orders_changes_current" AS\n')
    assert view.split(" AS\n", 1)[1] == select, "the view and the saved query must be the same query"

    columns = [(sub(c["Name"]) if isinstance(c["Name"], str) else NAMES[c["Name"]["Ref"]], c["Type"])
               for c in glue_table["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]]
    columns += [(k["Name"], k["Type"]) for k in glue_table["Properties"]["TableInput"]["PartitionKeys"]]

    db = duckdb.connect()
    db.execute("CREATE SCHEMA lake")
    db.execute("CREATE TABLE lake.orders_changes (" +
               ", ".join(f'"{n}" {DUCKDB_TYPES[t]}' for n, t in columns) + ")")
    for r in sample:
        t = r["_event_time"]
        partition = {"table": r["_table_name"], "year": t[0:4], "month": t[5:7], "day": t[8:10], "hour": t[11:13]}
        # Like the JSON SerDe: columns the row lacks are NULL, attributes the table lacks are ignored.
        values = [partition[n] if n in partition else r.get(n) for n, _ in columns]
        values = [str(v) if isinstance(v, Decimal) else v for v in values]
        db.execute(f"INSERT INTO lake.orders_changes VALUES ({', '.join('?' * len(values))})", values)

    duck_sql = sqlglot.transpile(select, read="athena", write="duckdb")[0]
    result = db.execute(duck_sql)
    names = [d[0] for d in result.description]
    return {(r["pk"], r["sk"]): r for r in (dict(zip(names, row)) for row in result.fetchall())}


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_current_state_query_over_sample_rows(template_name):
    sample = rows()
    got = run_current_state(template_name, sample)
    want = expected_current_state(sample)
    assert set(got) == set(want)
    assert any(r["_is_deleted"] for r in sample), "the sample should contain deletes"
    assert len({r["_event_id"] for r in sample}) < len(sample), "the sample should contain a duplicate"
    for k, r in want.items():
        assert got[k]["last_changed"] == r["_event_time"]
        assert got[k]["status"] == r.get("status")


def stream_row(event_id: str, sequence_number: str, status: str, **extra) -> dict:
    """A row as the DynamoDB Streams source writes it: no Kinesis columns, whole-second times."""
    return {"_event_name": "MODIFY", "_event_id": event_id, "_event_time": "2025-11-20T10:00:00.000000Z",
            "_table_name": "orders", "_aws_region": "eu-central-1", "_is_deleted": False,
            "_expired_by_ttl": False, "_stream_sequence_number": sequence_number,
            "pk": "CUSTOMER#00042", "sk": "ORDER#2025-11-20#1001", "status": status, **extra}


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_changes_in_the_same_second_go_by_the_dynamodb_streams_sequence_number(template_name):
    # Two changes to one item in the same second, the later with the longer sequence number (they
    # are decimal strings of varying length: compared by length, then text), delivered first.
    later = stream_row("b", "1000000000000000000000", "SHIPPED")
    earlier = stream_row("a", "999999999999999999999", "PAID")
    for sample in ([later, earlier], [earlier, later], [later, earlier, dict(earlier)]):
        got = run_current_state(template_name, sample)
        assert got[("CUSTOMER#00042", "ORDER#2025-11-20#1001")]["status"] == "SHIPPED"
    # A later delete in the same second removes the item.
    removed = stream_row("c", "1000000000000000000001", "SHIPPED", _event_name="REMOVE", _is_deleted=True)
    assert run_current_state(template_name, [later, removed, earlier]) == {}
