"""The shipped Athena SQL (sql/), run on DuckDB over a local lake written by `ddb-lake backfill` and
`ddb-lake replay`, and the Glue definitions `ddb-lake schema` infers for it.

Each file is translated from Athena SQL with sqlglot (scripts/lake_sql.py, the same helper the
docs point people to). Each Glue table is stood in for by a DuckDB view reading the lake's gzip'd
JSON lines under the definition `ddb-lake schema` prints (its columns, types, mappings and
partition keys), as Athena's OpenX JSON SerDe reads them: columns a row lacks are NULL and
attributes the table lacks are ignored. Expected answers are computed independently from the rows,
with exact decimal arithmetic.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from cfnlint.decode import decode

from current_state_model import expected_current_state

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lake_sql import (BadData, Number, SerDe, athena, canonical_number, connect,  # noqa: E402
                      infer_tables, infer_views, load_row, parse_type, read_value)

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ROOT / "sample-records" / "devices-change-records.jsonl"
SAMPLE = ROOT / "sample-records" / "change-records.jsonl"
EXPORT = ROOT / "sample-records" / "export"
SQL = ROOT / "sql"
TEMPLATE = ROOT / "cloudformation" / "lake-single-account.yaml"
EXPORT_TIME = "2025-11-20T08:00:00.000000Z"


@pytest.fixture(scope="module")
def binary(cargo_bin) -> Path:
    return cargo_bin("ddb-lake")


def load_template(path: Path = TEMPLATE) -> dict:
    template, problems = decode(str(path))
    assert template is not None, problems
    return template


def defaults(template: dict) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


def db_for(lake: Path, binary: Path):
    """DuckDB with the Glue tables and views `ddb-lake schema` infers for the lake."""
    db = connect(lake, infer_tables(lake, binary=str(binary)))
    create_views(db, lake, binary)
    return db


def sub(value, names: dict[str, str]) -> str:
    """A !Sub string with the parameters' defaults; `${!x}` stays a literal `${x}`."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    text = re.sub(r"\$\{([A-Za-z]+)\}", lambda m: names[m.group(1)], text)
    return text.replace("${!", "${")


def resource(template: dict, type_: str) -> dict:
    (found,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == type_]
    return found


def run(binary: Path, *args) -> str:
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_views(db, lake: Path, binary: Path) -> None:
    """The current-state views `ddb-lake schema --views` prints for the lake."""
    athena(db, infer_views(lake, binary=str(binary)))


def current_state(db) -> dict[tuple, dict]:
    rows = athena(db, 'SELECT * FROM "ddb_lake"."orders_changes_current"')
    return {(r["pk"], r["sk"]): r for r in rows}


def lake_rows(lake: Path) -> list[dict]:
    rows = []
    for path in sorted((lake / "lake").rglob("*.gz")):
        with gzip.open(path, "rt") as f:
            rows += [json.loads(line, parse_float=Decimal) for line in f]
    return rows


def change(event_id: str, name: str, when_ms: int, image: dict, keys: dict) -> str:
    dynamodb = {"ApproximateCreationDateTime": when_ms, "Keys": keys}
    dynamodb["OldImage" if name == "REMOVE" else "NewImage"] = image
    return json.dumps({"awsRegion": "eu-central-1", "eventID": event_id, "eventName": name,
                       "userIdentity": None, "recordFormat": "application/json",
                       "tableName": "orders", "dynamodb": dynamodb, "eventSource": "aws:dynamodb"})


@pytest.fixture()
def lake(tmp_path, binary) -> Path:
    """The export's items, then the stream's sample changes."""
    run(binary, "backfill", EXPORT, "--lake", tmp_path)
    run(binary, "replay", SAMPLE, "--lake", tmp_path)
    return tmp_path


def test_current_state_view(lake, binary):
    db = db_for(lake, binary)
    got = current_state(db)
    want = expected_current_state(lake_rows(lake))
    assert set(got) == set(want)
    for key, row in want.items():
        assert got[key]["_event_time"] == row["_event_time"]
        assert got[key]["status"] == row.get("status")

    # A MODIFY overrides the INSERT.
    paid = got[("CUSTOMER#00042", "ORDER#2025-11-20#1001")]
    assert (paid["status"], paid["_event_time"]) == ("PAID", "2025-11-20T10:00:00.250417Z")
    # A REMOVE removes; the TTL's too.
    assert ("CUSTOMER#00007", "ORDER#2025-11-20#1002") not in got
    # Backfilled rows the stream later removed are gone, the others are as exported.
    assert ("CUSTOMER#00042", "ORDER#2025-11-01#0999") not in got
    assert ("SESSION#abc", "SESSION#abc") not in got
    shipped = got[("CUSTOMER#00100", "ORDER#2025-10-30#0900")]
    assert shipped["_event_time"] == EXPORT_TIME
    assert (shipped["status"], shipped["total"], shipped["address_city"], shipped["tags"]) == \
        ("SHIPPED", Decimal("120"), "Bern", ["express"])


def test_a_later_change_overrides_a_backfilled_row_and_an_earlier_one_does_not(lake, binary):
    keys = {"pk": {"S": "CUSTOMER#00100"}, "sk": {"S": "ORDER#2025-10-30#0900"}}
    image = lambda status: {**keys, "status": {"S": status}, "total": {"N": "120.00"}}
    changes = lake / "changes.jsonl"
    changes.write_text(
        # 10:30, after the export: the item is now DELIVERED.
        change("late-1", "MODIFY", 1763634600000, image("DELIVERED"), keys) + "\n"
        # 07:00, before the export, delivered late: the export already holds a newer state.
        + change("early-1", "MODIFY", 1763622000000, image("PACKED"), keys) + "\n")
    run(binary, "replay", changes, "--lake", lake)
    got = current_state(db_for(lake, binary))[("CUSTOMER#00100", "ORDER#2025-10-30#0900")]
    assert (got["status"], got["_event_time"]) == ("DELIVERED", "2025-11-20T10:30:00.000000Z")


def test_a_duplicate_delivery_changes_nothing(lake, binary):
    before = current_state(db_for(lake, binary))
    # The stream delivers the MODIFY of 1001 once more, in a later batch of its own.
    duplicate = SAMPLE.read_text().splitlines()[1]
    assert '"eventName": "MODIFY"' in duplicate
    again = lake / "again.jsonl"
    again.write_text(duplicate + "\n")
    run(binary, "replay", again, "--lake", lake)
    db = db_for(lake, binary)
    copies = athena(db, """SELECT count(*) AS n FROM "ddb_lake"."orders_changes"
                           WHERE _event_id = '3f6e9a1c-5b2d-4c7e-9f10-000000000002'""")
    assert copies == [{"n": 3}]  # twice in the sample, once more now
    assert current_state(db) == before


def test_example_queries(lake, binary):
    db = db_for(lake, binary)
    answers = {
        "orders_by_status.sql": [
            {"status": "DELIVERED", "orders": 1, "total_value": Decimal("15.5")},
            {"status": "NEW", "orders": 1, "total_value": Decimal("1234.56")},
            {"status": "PAID", "orders": 1, "total_value": Decimal("129.9")},
            {"status": "SHIPPED", "orders": 1, "total_value": Decimal("120")},
        ],
        "item_history.sql": [
            {"_event_time": "2025-11-20T09:59:59.100000Z", "_event_name": "INSERT",
             "_event_id": "3f6e9a1c-5b2d-4c7e-9f10-000000000001", "status": "NEW",
             "total": Decimal("129.9"), "_is_deleted": False},
            {"_event_time": "2025-11-20T10:00:00.250417Z", "_event_name": "MODIFY",
             "_event_id": "3f6e9a1c-5b2d-4c7e-9f10-000000000002", "status": "PAID",
             "total": Decimal("129.9"), "_is_deleted": False},
        ],
        "ttl_expirations_per_day.sql": [
            {"day": "2025-11-20", "expired_items": 1},
        ],
        "changes_per_hour.sql": [
            {"table": "orders", "datehour": f"year=2025/month=11/day=20/hour={h}",
             "_event_name": e, "changes": n}
            for h, e, n in [("08", "INSERT", 5), ("09", "INSERT", 1), ("10", "INSERT", 1),
                            ("10", "MODIFY", 1), ("10", "REMOVE", 3)]
        ],
    }
    examples = sorted(p.name for p in (SQL / "examples").glob("*.sql"))
    assert examples == sorted(answers), "every example query has its expected answer here"
    for name, want in answers.items():
        assert athena(db, (SQL / "examples" / name).read_text()) == want, name


def test_the_local_layout_is_the_stacks_layout(lake, binary, template):
    names = defaults(template)
    s3 = resource(template, "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]
    assert s3["CompressionFormat"] == "GZIP"
    prefix = sub(s3["Prefix"], names)
    error_prefix = sub(s3["ErrorOutputPrefix"], names)
    as_pattern = lambda p: re.compile("^" + re.sub(r"!\\\{[^}]*\\\}", "[^/]+", re.escape(p))
                                      + r"[^/]+-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.gz$")
    objects = [p.relative_to(lake).as_posix() for p in lake.rglob("*.gz")]
    rows = [o for o in objects if o.startswith(names["TablePrefix"])]
    assert rows and all(as_pattern(prefix).match(o) for o in rows), (prefix, rows)
    # Where Glue reads the partitions: the next test (the schema keeper writes what `ddb-lake schema` prints).

    # A record that fails lands under the error prefix with the output type.
    bad = lake / "bad.jsonl"
    bad.write_text(SAMPLE.read_text().splitlines()[0].replace('"INSERT"', '"UPSERT"') + "\n")
    subprocess.run([str(binary), "replay", bad, "--lake", lake], check=True, capture_output=True)
    errors = [p.relative_to(lake).as_posix() for p in (lake / names["ErrorPrefix"]).rglob("*.gz")]
    assert len(errors) == 1
    error_pattern = as_pattern(error_prefix.replace("!{firehose:error-output-type}", "processing-failed"))
    assert error_pattern.match(errors[0]), (error_prefix, errors)


# --- `ddb-lake schema`: definitions Athena and DuckDB read alike ---------------------------------

def test_definitions_read_where_the_stacks_write(lake, binary, template):
    """The Glue table of a source table reads the layout the stacks' Firehose writes, under the
    stacks' TablePrefix, from their projection start (the schema keeper's settings); plus the
    case-sensitive key matching every table needs. No template declares a Glue table any more."""
    names = defaults(template)
    out = run(binary, "schema", "--lake", lake, "--table", names["TableName"],
              "--location", "s3://bucket/" + names["TablePrefix"],
              "--projection-start-year", names["ProjectionStartYear"])
    ours = json.loads(out)
    prefix = sub(resource(template, "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]["Prefix"], names)
    parameters = ours["Parameters"]
    assert parameters["projection.enabled"] == "true"
    # One hour's folder, as Firehose names it and as Athena finds it through the template.
    hour = {"table": "orders", "year": "2025", "month": "11", "day": "20", "hour": "09"}
    firehose = "s3://bucket/" + re.sub(r"!\{partitionKeyFromLambda:(\w+)\}", lambda m: hour[m.group(1)], prefix)
    athena_location = (parameters["storage.location.template"].replace("${table}", "orders")
                       .replace("${datehour}", "year=2025/month=11/day=20/hour=09"))
    assert athena_location == firehose
    assert parameters["projection.datehour.type"] == "date"
    assert parameters["projection.datehour.range"] == \
        f"year={names['ProjectionStartYear']}/month=01/day=01/hour=00,NOW"
    assert ours["TableType"] == "EXTERNAL_TABLE"
    assert ours["PartitionKeys"] == [{"Name": k, "Type": "string"} for k in ("table", "datehour")]
    sd = ours["StorageDescriptor"]
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert sd["SerdeInfo"]["Parameters"]["case.insensitive"] == "false"
    assert sd["Location"].startswith("s3://bucket/" + names["TablePrefix"])
    # The sample's columns are there, with types their values fit.
    types = {c["Name"]: c["Type"] for c in sd["Columns"]}
    for name in ("_event_name", "_event_id", "_event_time", "_is_deleted", "pk", "sk", "status", "total"):
        assert name in types, name
    assert types["tags"] == "array<string>" and types["expires_at"] == "bigint"


def as_decimal(v):
    """A row's JSON value with its numbers as exact Decimals."""
    if isinstance(v, Number):
        return Decimal(v)
    if isinstance(v, list):
        return [as_decimal(x) for x in v]
    if isinstance(v, dict):
        return {k: as_decimal(x) for k, x in v.items()}
    return v


def exact(got, raw, t) -> bool:
    """`got` (what the view returned) is `raw` (the row's JSON value) exactly, for type `t`."""
    if raw is None:
        return got is None
    kind = t[0]
    if kind == "string":
        if isinstance(raw, Number):
            return Decimal(got) == Decimal(raw)
        if isinstance(raw, bool):
            return got == ("true" if raw else "false")
        if isinstance(raw, str):
            return got == raw
        return json.loads(got, parse_float=Decimal, parse_int=Decimal) == as_decimal(raw)
    if kind == "boolean":
        return got is raw
    if kind in ("bigint", "decimal"):
        return isinstance(raw, Number) and Decimal(got) == Decimal(raw) and \
            (kind == "decimal" or isinstance(got, int))
    if kind == "array":
        return len(got) == len(raw) and all(exact(g, r, t[1]) for g, r in zip(got, raw))
    fields = dict(t[1])
    return set(raw) <= set(fields) and all(exact(got[n], raw.get(n), ft) for n, ft in fields.items())


def assert_every_value_is_read_exactly(db, tables: list[dict], lake: Path) -> int:
    """Each view's rows against the lake's rows, value by value; returns the values checked."""
    checked = 0
    for table in tables:
        source = table["Parameters"]["projection.table.values"]
        sd = table["StorageDescriptor"]
        mappings = {k[len("mapping."):]: v for k, v in sd["SerdeInfo"]["Parameters"].items()
                    if k.startswith("mapping.")}
        columns = [(c["Name"], mappings.get(c["Name"], c["Name"]), parse_type(c["Type"]))
                   for c in sd["Columns"]]
        # A change delivered twice has one event ID and two sequence numbers.
        identity = lambda r: (r["_event_id"], r.get("_kinesis_sequence_number"))
        got = {identity(r): r for r in athena(db, f'SELECT * FROM "ddb_lake"."{table["Name"]}"')}
        rows = []
        for path in sorted((lake / "lake" / f"table={source}").rglob("*.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows += [load_row(line.rstrip("\n")) for line in f]
        assert len(got) == len(rows), source
        for row in rows:
            view_row = got[identity(row)]
            keys_read = {key for _, key, _ in columns}
            assert set(row) <= keys_read, f"{source}: not readable: {set(row) - keys_read}"
            for name, key, t in columns:
                assert exact(view_row[name], row.get(key), t), (source, name, view_row[name], row.get(key))
                checked += 1
    return checked


def change_record(table: str, event_id: str, ms: int, keys: dict, image: dict, name="INSERT") -> str:
    dynamodb = {"ApproximateCreationDateTime": ms, "Keys": keys, "SizeBytes": 100}
    dynamodb["OldImage" if name == "REMOVE" else "NewImage"] = {**keys, **image}
    return json.dumps({"awsRegion": "eu-central-1", "eventID": event_id, "eventName": name,
                       "tableName": table, "dynamodb": dynamodb, "eventSource": "aws:dynamodb"},
                      ensure_ascii=False)


def three_tables() -> list[str]:
    """Number keys with a sort key, binary keys, a string key without sort key; names differing
    only in case, with blanks, dots and dashes; a number that is sometimes a string; numbers that
    do not fit decimal(38,6)."""
    b64 = lambda b: base64.b64encode(b).decode()
    t0 = 1763632800000
    records = []
    for i, (value, big) in enumerate([({"N": "12"}, "0.1234567890123456789012345678901234567"),
                                      ({"S": "n/a"}, "12345678901234567890123456789012345678"),
                                      ({"N": "0.5"}, "1E-130"),
                                      ({"N": "-7E+3"}, "9.9999999999999999999999999999999999999E+125")]):
        keys = {"device": {"N": str(100 + i % 2)}, "ts": {"N": str(1763632800 + i)}}
        records.append(change_record("sensor-readings", f"r{i}", t0 + i * 1000, keys, {
            "value": value, "reading": {"N": big}, "Temperature": {"N": "21.5"},
            "temperature": {"S": "warm"}, "calibration.offset": {"N": "-0.000001"},
            "history": {"L": [{"N": "1"}, {"N": "2.25"}, {"NULL": True}]},
            "exact": {"N": "0.1000000000000000000001"}}))
    for i in range(3):
        keys = {"Id": {"B": b64(bytes([i, 255]))}, "Part": {"B": b64(b"\x00\x01")}}
        records.append(change_record("Blobs.v2", f"b{i}", t0 + 3_600_000 + i, keys, {
            "payload": {"B": "iVBORw0KGgo="}, "sizes": {"NS": ["1", "1E+40", "0.5"]},
            "weights": {"NS": ["1.5", "2"]},
            "parts": {"L": [{"M": {"n": {"N": "1"}, "etag": {"S": "a"}}}, {"M": {"n": {"N": "2.5"}}}]},
            "labels": {"L": [{"M": {"Name": {"S": "x"}}}]}}, "REMOVE" if i == 2 else "INSERT"))
    for i in range(3):
        records.append(change_record("users", f"u{i}", t0 + 7_200_000 + i, {"user id": {"S": f"u#{i}"}}, {
            "Url": {"S": "https://example.com/A"}, "url": {"S": "https://example.com/a"},
            "URL": {"S": "HTTPS://EXAMPLE.COM"} if i else {"NULL": True},
            "first name": {"S": "Anna \"A\" Müller"}, "e-mail": {"S": "anna@example.com"},
            "2fa": {"BOOL": i % 2 == 0}, "größe": {"S": "M"}, "year": {"N": "1990"},
            "table": {"S": "kitchen"}, "Address": {"M": {"City": {"S": "Zürich"}}},
            "score": {"N": ["0.30000000000000004", "7", "-1E-17"][i]},
            "mixed": {"L": [{"S": "a"}, {"N": "1.50"}, {"BOOL": True}]}}))
    return records


def test_three_tables_read_every_value_exactly_in_duckdb(tmp_path, binary):
    changes = tmp_path / "changes.jsonl"
    changes.write_text("\n".join(three_tables()) + "\n", encoding="utf-8")
    run(binary, "replay", changes, "--lake", tmp_path)
    tables = infer_tables(tmp_path, binary=str(binary))
    assert [t["Name"] for t in tables] == ["blobs_v2_changes", "sensor_readings_changes", "users_changes"]
    types = {(t["Name"], c["Name"]): c["Type"] for t in tables for c in t["StorageDescriptor"]["Columns"]}
    assert types[("sensor_readings_changes", "device")] == "bigint"
    assert types[("sensor_readings_changes", "value")] == "string"
    assert types[("sensor_readings_changes", "reading")] == "string"
    assert types[("sensor_readings_changes", "exact")] == "decimal(22,22)"
    assert types[("blobs_v2_changes", "id")] == "string"
    assert types[("blobs_v2_changes", "parts")] == "array<struct<n:decimal(20,1),etag:string>>"
    assert types[("users_changes", "url_3")] == "string"
    db = connect(tmp_path, tables)
    assert assert_every_value_is_read_exactly(db, tables, tmp_path) > 150
    # The exact values themselves, as Athena shows them.
    readings = {r["_event_id"]: r for r in athena(db, 'SELECT * FROM "ddb_lake"."sensor_readings_changes"')}
    assert readings["r0"]["exact"] == Decimal("0.1000000000000000000001")
    assert readings["r1"]["reading"] == "12345678901234567890123456789012345678"
    assert readings["r2"]["reading"] == "1E-130"
    assert readings["r3"]["value"] == "-7E+3"
    assert (readings["r0"]["temperature"], readings["r0"]["temperature_2"]) == (Decimal("21.5"), "warm")
    users = athena(db, 'SELECT url, url_2, url_3, first_name, year_2, table_2, "2fa", mixed '
                       'FROM "ddb_lake"."users_changes" WHERE user_id = \'u#1\'')
    assert users == [{"url": "https://example.com/A", "url_2": "https://example.com/a",
                      "url_3": "HTTPS://EXAMPLE.COM", "first_name": 'Anna "A" Müller',
                      "year_2": 1990, "table_2": "kitchen", "2fa": False,
                      "mixed": '["a",1.50,true]'}]


def test_the_demo_tables_differ_and_read_exactly(lake, binary):
    run(binary, "replay", DEVICES, "--lake", lake)
    tables = infer_tables(lake, binary=str(binary))
    assert [t["Name"] for t in tables] == ["devices_changes", "orders_changes"]
    devices = {c["Name"]: c["Type"] for c in tables[0]["StorageDescriptor"]["Columns"]}
    assert (devices["device_id"], devices["battery_level"], devices["counter"]) == \
        ("bigint", "decimal(21,2)", "decimal(20,0)")
    assert "sk" not in devices
    db = connect(lake, tables)
    assert_every_value_is_read_exactly(db, tables, lake)
    rows = athena(db, 'SELECT device_id, device_name, "2fa", year_2, readings, counter '
                      'FROM "ddb_lake"."devices_changes" WHERE _event_name = \'MODIFY\'')
    assert rows == [{"device_id": 17, "device_name": "Boiler room", "2fa": True, "year_2": 2019,
                     "readings": [Decimal("21.5")], "counter": Decimal("18446744073709551616")}]


@pytest.mark.parametrize("text, canonical", [
    ("0", "0"), ("-0", "0"), ("-0.0", "0.0"), ("7", "7"), ("1.50", "1.50"), ("1e5", "1E+5"),
    ("0.0000001", "1E-7"), ("0.000001", "0.000001"), ("123E-10", "1.23E-8"),
    ("9223372036854775808", "9223372036854775808"), ("1.0E+2", "1.0E+2"),
])
def test_numbers_in_string_columns_read_as_javas_bigdecimal_writes_them(text, canonical):
    assert canonical_number(text) == canonical
    assert Decimal(canonical) == Decimal(text)


def test_values_a_type_cannot_hold_fail_as_in_athena():
    serde = SerDe({"case.insensitive": "false"})
    value = lambda text, t: read_value(load_row('{"v":%s}' % text)["v"], parse_type(t), serde)
    assert value("1.25", "decimal(3,2)") == Decimal("1.25")
    assert value("1.255", "decimal(3,2)") == Decimal("1.26")  # the SerDe rounds half up
    with pytest.raises(BadData):
        value("10.5", "decimal(3,2)")
    assert value("1.9", "bigint") == 1  # the SerDe truncates
    with pytest.raises(BadData):
        value("9223372036854775808", "bigint")
    with pytest.raises(BadData):
        value('[1]', "bigint")
    assert value('"x"', "array<string>") == ["x"]
    assert value('{"a":1,"A":2}', "struct<a:bigint>") == {"a": 1}
    # Case-insensitive (the SerDe's default): keys lower-cased, the last of equal ones wins.
    loose = SerDe({})
    assert read_value(load_row('{"v":{"a":1,"A":2}}')["v"], parse_type("struct<a:bigint>"), loose) == {"a": 2}
