#!/usr/bin/env python3
"""Runs Athena SQL on a local lake (written by `ddb-lake replay` / `backfill`) with DuckDB.

usage: lake_sql.py --lake DIR [--schema FILE --views FILE] [--table-prefix PREFIX] (FILE.sql | 'SQL text')...

Each statement is translated from Athena SQL with sqlglot. Every Glue table `ddb-lake schema`
defines for the lake (its output for DIR, or a saved copy given with --schema) is a DuckDB view
"ddb_lake"."<table>" reading DIR/<TablePrefix>table=<source>/**/*.gz as Athena's OpenX JSON
SerDe reads it under that definition: the same columns and types, the partition keys as strings,
each column reading the JSON key its `mapping.<column>` names (case-sensitively, as
`case.insensitive` = false says), its value converted by the SerDe's rules (Trino's reader, which
Athena engine 3 runs): decimals exactly, a number in a `string` column as its canonical text, a
value a type cannot hold an error as in Athena. A column a row lacks is NULL and an attribute the
table lacks is not seen. Each table whose key schema the lake holds also has its current-state
view "ddb_lake"."<table>_current", the SQL `ddb-lake schema --views` prints (the view the schema
keeper makes in Glue). The arguments run in order (an existing .sql file, or else the text
itself); the rows of each one's last statement are printed as a table.

Needs duckdb and sqlglot (requirements-demo.txt: `source scripts/python-env.sh`), and the
ddb-lake binary unless --schema is given (--ddb-lake, $DDB_LAKE, or cargo's target folder).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from pathlib import Path

import duckdb
import sqlglot

ROOT = Path(__file__).resolve().parents[1]
PARTITION_KEYS = ("table", "year", "month", "day", "hour")
LONG_RANGE = range(-2**63, 2**63)
# Room for any DynamoDB number (38 digits, exponents -130..125) with its scale: Python's default
# context keeps 28 digits.
EXACT = Context(prec=400, Emin=-999999, Emax=999999)


# --- the table definitions ---------------------------------------------------------------------

def ddb_lake_binary() -> str:
    """$DDB_LAKE, else the crate's `ddb-lake` where cargo puts it (scripts/cargo-bin.sh builds it
    when needed and honours CARGO_TARGET_DIR), else `ddb-lake` on PATH."""
    if os.environ.get("DDB_LAKE"):
        return os.environ["DDB_LAKE"]
    done = subprocess.run([str(ROOT / "scripts" / "cargo-bin.sh"), "--quiet", "--bin", "ddb-lake"],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True)
    paths = done.stdout.split()
    return paths[-1] if done.returncode == 0 and paths else "ddb-lake"


def infer_tables(lake: Path, table_prefix: str = "lake/", binary: str | None = None) -> list[dict]:
    """The Glue TableInputs `ddb-lake schema --lake` prints for the lake."""
    done = subprocess.run([binary or ddb_lake_binary(), "schema", "--lake", str(lake),
                           "--table-prefix", table_prefix], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or f"ddb-lake schema failed ({done.returncode})")
    return json.loads(done.stdout)


def infer_views(lake: Path, table_prefix: str = "lake/", binary: str | None = None) -> str:
    """The current-state views (Athena SQL) `ddb-lake schema --lake --views` prints for the lake."""
    done = subprocess.run([binary or ddb_lake_binary(), "schema", "--lake", str(lake),
                           "--table-prefix", table_prefix, "--views"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or f"ddb-lake schema failed ({done.returncode})")
    return done.stdout


def load_tables(path: Path) -> list[dict]:
    """A saved `ddb-lake schema` output: a list of TableInputs, or one."""
    tables = json.loads(path.read_text())
    return tables if isinstance(tables, list) else [tables]


def parse_type(text: str):
    """A Glue column type as a tuple: ('string',), ('decimal', p, s), ('array', t),
    ('struct', [(name, t), ...]), ... Only the types `ddb-lake schema` declares."""
    tokens = re.findall(r"[A-Za-z0-9_]+|[<>(),:]", text)
    pos = 0

    def take(expected=None):
        nonlocal pos
        token = tokens[pos] if pos < len(tokens) else None
        if expected is not None and token != expected:
            raise ValueError(f"type {text!r}: expected {expected!r} at token {pos}")
        pos += 1
        return token

    def one():
        word = take().lower()
        if word in ("string", "boolean", "bigint"):
            return (word,)
        if word == "decimal":
            take("(")
            p = int(take())
            take(",")
            s = int(take())
            take(")")
            return ("decimal", p, s)
        if word == "array":
            take("<")
            element = one()
            take(">")
            return ("array", element)
        if word == "struct":
            take("<")
            fields = []
            while True:
                name = take()
                take(":")
                fields.append((name, one()))
                if take() == ">":
                    return ("struct", fields)
        raise ValueError(f"type {text!r}: {word} is not a type ddb-lake declares")

    t = one()
    if pos != len(tokens):
        raise ValueError(f"type {text!r}: unexpected {tokens[pos]!r}")
    return t


def duckdb_type(t) -> str:
    kind = t[0]
    if kind == "string":
        return "VARCHAR"
    if kind == "boolean":
        return "BOOLEAN"
    if kind == "bigint":
        return "BIGINT"
    if kind == "decimal":
        return f"DECIMAL({t[1]},{t[2]})"
    if kind == "array":
        return duckdb_type(t[1]) + "[]"
    fields = ", ".join(f'"{name}" {duckdb_type(ft)}' for name, ft in t[1])
    return f"STRUCT({fields})"


# --- the SerDe's reading of a value --------------------------------------------------------------

class Number(str):
    """A JSON number, as its own text (never through a float)."""


@functools.lru_cache(maxsize=16384)
def load_row(line: str):
    # Keys given twice: the last one counts, as in the SerDe.
    return json.loads(line, parse_int=Number, parse_float=Number)


class BadData(ValueError):
    """A value the declared type cannot hold: Athena fails the query (HIVE_BAD_DATA)."""


def canonical_number(text: str) -> str:
    """How the SerDe writes a JSON number into a string column: as a long if it is one, else as
    Java's BigDecimal.toString() (the same to-scientific-string rule as Python's Decimal)."""
    if re.fullmatch(r"-?[0-9]+", text) and int(text) in LONG_RANGE:
        return str(int(text))
    d = Decimal(text)
    return str(d.copy_abs() if d.is_zero() else d)  # BigDecimal has no negative zero


def json_text(value) -> str:
    """A list or object in a string column: compact JSON as the SerDe's writer renders it."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Number):
        return canonical_number(value)
    if isinstance(value, str):
        out = ['"']
        previous = ""
        for c in value:
            if c in '"\\':
                out.append("\\" + c)
            elif c == "/" and previous == "<":
                out.append("\\/")
            elif c in "\t\b\n\r\f":
                out.append({"\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[c])
            elif ord(c) < 0x20:
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
            previous = c
        return "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return "{" + ",".join(json_text(k) + ":" + json_text(v) for k, v in value.items()) + "}"


def read_value(value, t, serde: "SerDe"):
    """`value` (as loaded by load_row) read as a column of type `t`."""
    if value is None:
        return None
    kind = t[0]
    if kind == "string":
        if isinstance(value, Number):
            return canonical_number(value)
        if isinstance(value, str):
            return value
        return json_text(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        return isinstance(value, str) and value.lower() == "true"
    if kind in ("bigint", "decimal"):
        if not isinstance(value, str) or isinstance(value, bool):
            raise BadData(f"{type(value).__name__} can not be coerced to {kind}")
        try:
            number = Decimal(value)
            if kind == "bigint":
                whole = int(number.to_integral_value(rounding=ROUND_DOWN, context=EXACT))
            else:
                p, s = t[1], t[2]
                scaled = number.quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP,
                                         context=EXACT)
        except (InvalidOperation, OverflowError):
            raise BadData(f"{value!r} is not a {kind} number") from None
        if kind == "bigint":
            if whole not in LONG_RANGE:
                raise BadData(f"{value} is out of bigint range")
            return whole
        if len(scaled.as_tuple().digits) > p and not scaled.is_zero():
            raise BadData(f"{value} does not fit decimal({p},{s})")
        return scaled
    if kind == "array":
        if isinstance(value, str) and value == "":
            return None
        elements = value if isinstance(value, list) else [value]
        return [read_value(v, t[1], serde) for v in elements]
    # struct
    if isinstance(value, str) and not isinstance(value, Number) and value.strip() == "":
        return None
    if not isinstance(value, dict):
        raise BadData(f"{type(value).__name__} can not be coerced to a struct")
    obj = serde.keys(value)
    return {name: read_value(obj.get(serde.key(name)), ft, serde) for name, ft in t[1]}


class SerDe:
    """The OpenX JSON SerDe's key matching under a table's SerDe parameters."""

    def __init__(self, parameters: dict[str, str]):
        self.insensitive = parameters.get("case.insensitive", "true").lower() == "true"
        self.mappings = {k[len("mapping."):]: v for k, v in parameters.items()
                         if k.startswith("mapping.")}

    def key(self, name: str) -> str:
        # A mapping applies to every field of that name, at any depth.
        key = self.mappings.get(name, name)
        return key.lower() if self.insensitive else key

    def keys(self, obj: dict) -> dict:
        return {k.lower(): v for k, v in obj.items()} if self.insensitive else obj


# --- DuckDB --------------------------------------------------------------------------------------

def sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def column_reader(key: str, t, serde: SerDe):
    """The value of `key` in a row's line, read as type `t`."""
    return lambda line: read_value(serde.keys(load_row(line)).get(key), t, serde)


def partition_column(name: str) -> str:
    """A Glue partition key from the folders' hive partitions: `table` as it is; `datehour`, the
    date projection's value, as the layout spells the hour (`year=2025/month=11/day=20/hour=09`)."""
    if name == "datehour":
        parts = [f"'{'/' if i else ''}{k}=' || \"{k}\"" for i, k in enumerate(PARTITION_KEYS[1:])]
        return f'({" || ".join(parts)}) AS "datehour"'
    return f'"{name}"'


def connect(lake: Path, tables: list[dict], table_prefix: str = "lake/",
            database: str = "ddb_lake") -> duckdb.DuckDBPyConnection:
    """DuckDB in which each Glue table of `tables` is a view over the local lake."""
    db = duckdb.connect()
    db.execute(f'CREATE SCHEMA "{database}"')
    hive_types = ", ".join(f"'{k}': VARCHAR" for k in PARTITION_KEYS)
    for ti, table in enumerate(tables):
        sd = table["StorageDescriptor"]
        serde = SerDe(sd["SerdeInfo"].get("Parameters", {}))
        source = table["Parameters"]["projection.table.values"]
        select = []
        for ci, column in enumerate(sd["Columns"]):
            t = parse_type(column["Type"])
            name = column["Name"]

            function = f"ddb_lake_{ti}_{ci}"
            db.create_function(function, column_reader(serde.key(name), t, serde), ["VARCHAR"],
                               duckdb_type(t), null_handling="special", side_effects=False)
            select.append(f'{function}(json::VARCHAR) AS "{name}"')
        select += [partition_column(k["Name"]) for k in table["PartitionKeys"]]
        files = (lake / table_prefix / f"table={source}").as_posix() + "/**/*.gz"
        db.execute(f"""
            CREATE VIEW "{database}"."{table['Name']}" AS
            SELECT {', '.join(select)}
            FROM read_ndjson_objects({sql_text(files)}, hive_partitioning=true,
                                     hive_types={{{hive_types}}})
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
    p.add_argument("--schema", type=Path, help="saved `ddb-lake schema` output (else it is run)")
    p.add_argument("--views", type=Path,
                   help="saved `ddb-lake schema --views` output (else it is run, unless --schema is given)")
    p.add_argument("--table-prefix", default="lake/", help="the stacks' TablePrefix (lake/)")
    p.add_argument("--ddb-lake", help="the ddb-lake binary that infers the definitions")
    p.add_argument("sql", nargs="+", help="SQL files or SQL text, run in order")
    a = p.parse_args()
    tables = load_tables(a.schema) if a.schema else infer_tables(a.lake, a.table_prefix, a.ddb_lake)
    db = connect(a.lake, tables, a.table_prefix)
    if a.views:
        athena(db, a.views.read_text())
    elif not a.schema:
        athena(db, infer_views(a.lake, a.table_prefix, a.ddb_lake))
    for arg in a.sql:
        path = Path(arg)
        is_file = arg.endswith(".sql") and path.is_file()
        print(f"-- {arg if is_file else ' '.join(arg.split())}")
        print(table_text(athena(db, path.read_text() if is_file else arg)), end="\n\n")


if __name__ == "__main__":
    sys.exit(main())
