"""The templates' current-state query, run locally: translated from Athena SQL to DuckDB and run over
the committed sample rows, loaded with the Glue table's own column list and types.

It must give, per primary key, the latest image by _event_time, count a duplicate delivery (same
_event_id) once, and leave deleted keys out - computed independently below.
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


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_current_state_query_over_sample_rows(template_name):
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
    sample = rows()
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
    got = {(r["pk"], r["sk"]): r for r in (dict(zip(names, row)) for row in result.fetchall())}

    want = expected_current_state(sample)
    assert set(got) == set(want)
    assert any(r["_is_deleted"] for r in sample), "the sample should contain deletes"
    assert len({r["_event_id"] for r in sample}) < len(sample), "the sample should contain a duplicate"
    for k, r in want.items():
        assert got[k]["last_changed"] == r["_event_time"]
        assert got[k]["status"] == r.get("status")
