#!/usr/bin/env python3
"""Runs Athena SQL on a local lake (written by `ddb-lake replay` / `backfill`) with DuckDB.

usage: lake_sql.py --lake DIR [--template YAML] (FILE.sql | 'SQL text')...

Each statement is translated from Athena SQL with sqlglot. The Glue table the stacks create,
"ddb_lake"."orders_changes", is a DuckDB view reading DIR/<TablePrefix>**/*.gz with the Glue
table's own columns, types and partition keys, taken from the stack template: like Athena's JSON
SerDe, a column a row lacks is NULL and an attribute the table lacks is not seen. The arguments
run in order (an existing .sql file, or else the text itself); the rows of each one's last
statement are printed as a table.

Needs duckdb, sqlglot and cfn-lint (all in requirements-dev.txt: `source scripts/python-env.sh`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import sqlglot
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "cloudformation" / "lake-single-account.yaml"
# Glue column types of the stacks' table, as DuckDB types.
DUCKDB_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "bigint": "BIGINT", "int": "INTEGER",
                "double": "DOUBLE", "decimal(38,6)": "DECIMAL(38,6)", "array<string>": "VARCHAR[]"}
PARTITION_KEYS = ("table", "year", "month", "day", "hour")


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict:
    template, problems = decode(str(path))
    if template is None:
        raise SystemExit(f"{path} does not parse: {problems}")
    return template


def defaults(template: dict) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}


def glue_table(template: dict) -> dict:
    (table,) = [r["Properties"]["TableInput"] for r in template["Resources"].values()
                if r["Type"] == "AWS::Glue::Table"]
    return table


def glue_columns(template: dict) -> list[tuple[str, str]]:
    """The Glue table's (column, DuckDB type)s, parameters at their defaults."""
    names = defaults(template)
    columns = []
    for c in glue_table(template)["StorageDescriptor"]["Columns"]:
        name = names[c["Name"]["Ref"]] if isinstance(c["Name"], dict) else c["Name"]
        columns.append((name, DUCKDB_TYPES[c["Type"]]))
    return columns


def connect(lake: Path, template: dict) -> duckdb.DuckDBPyConnection:
    """DuckDB in which the stacks' Glue table (default names) reads the local lake."""
    names = defaults(template)
    database, table = names["GlueDatabaseName"], names["GlueTableName"]
    columns = ", ".join(f"'{n}': '{t}'" for n, t in glue_columns(template))
    # Partition values stay strings ('01', not 1), as the Glue table declares them.
    keys = ", ".join(f"'{k}': VARCHAR" for k in PARTITION_KEYS)
    files = (lake / names["TablePrefix"]).as_posix().rstrip("/") + "/**/*.gz"
    db = duckdb.connect()
    db.execute(f'CREATE SCHEMA "{database}"')
    db.execute(f"""
        CREATE VIEW "{database}"."{table}" AS
        SELECT * FROM read_json('{files}', format='newline_delimited', columns={{{columns}}},
                                hive_partitioning=true, hive_types={{{keys}}})
    """)
    return db


def athena(db: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    """Runs Athena SQL on DuckDB; the rows of the last statement, as dicts."""
    result = None
    for statement in sqlglot.transpile(sql, read="athena", write="duckdb"):
        result = db.execute(statement)
    if result is None or result.description is None:
        return []
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def table_text(rows: list[dict], width: int = 40) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cell = lambda v: ("NULL" if v is None else str(v))[:width]
    sizes = [max(len(c), *(len(cell(r[c])) for r in rows)) for c in cols]
    line = lambda values: "  ".join(v.ljust(s) for v, s in zip(values, sizes)).rstrip()
    return "\n".join([line(cols), line("-" * s for s in sizes)] +
                     [line(cell(r[c]) for c in cols) for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", type=Path, required=True, help="the folder given to ddb-lake --lake")
    p.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    p.add_argument("sql", nargs="+", help="SQL files or SQL text, run in order")
    a = p.parse_args()
    db = connect(a.lake, load_template(a.template))
    for arg in a.sql:
        path = Path(arg)
        is_file = arg.endswith(".sql") and path.is_file()
        print(f"-- {arg if is_file else ' '.join(arg.split())}")
        print(table_text(athena(db, path.read_text() if is_file else arg)), end="\n\n")


if __name__ == "__main__":
    sys.exit(main())
