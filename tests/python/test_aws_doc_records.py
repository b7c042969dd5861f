"""Change records AWS published (sample-records/aws-docs/, sources in its README) through
`ddb-lake replay`, `ddb-lake schema`, `ddb-lake schema --views` and the Athena SQL on DuckDB
(scripts/lake_sql.py): every row, every value read back exactly, the current state per table."""
from __future__ import annotations

import base64
import gzip
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from test_lake_sql import assert_every_value_is_read_exactly, run
from lake_sql import athena, connect, infer_tables, infer_views

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "sample-records" / "aws-docs"
MUSIC = DOCS / "cli-dynamodbstreams-get-records-music.json"
MUSIC_STREAM = "arn:aws:dynamodb:us-west-1:123456789012:table/Music/stream/2019-10-22T18:02:01.576"
POWERTOOLS_TABLE = "PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY"


@pytest.fixture(scope="module")
def binary(cargo_bin) -> Path:
    return cargo_bin("ddb-lake")


def music_with_arn(tmp_path: Path) -> Path:
    """The GetRecords output with the stream's ARN added to each record, as a consumer adds it."""
    records = json.loads(MUSIC.read_text())["Records"]
    path = tmp_path / "music.jsonl"
    path.write_text("".join(json.dumps({**r, "eventSourceARN": MUSIC_STREAM}) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory, binary) -> Path:
    lake = tmp_path_factory.mktemp("lake")
    for name in ["streams-tutorial-barktable.json", "powertools-kinesis-dynamodb-event.json",
                 "lambda-go-dynamodb-event-all-types.json"]:
        run(binary, "replay", DOCS / name, "--lake", lake)
    run(binary, "replay", ROOT / "sample-records" / "dynamodb-streams" / "lambda-event.json", "--lake", lake)
    run(binary, "replay", music_with_arn(tmp_path_factory.mktemp("in")), "--lake", lake)
    return lake


@pytest.fixture(scope="module")
def db(lake, binary):
    db = connect(lake, infer_tables(lake, binary=str(binary)))
    athena(db, infer_views(lake, binary=str(binary)))
    return db


def test_get_records_output_as_printed_fails_naming_what_it_lacks(tmp_path, binary):
    done = subprocess.run([str(binary), "replay", str(MUSIC), "--lake", str(tmp_path)],
                          capture_output=True, text=True, check=True)
    assert "0 rows, 3 failed (not_a_change_record 3)" in done.stdout
    # Each failure is logged, as the Lambda logs it, with what the record lacks.
    reasons = [json.loads(line)["fields"]["reason"] for line in done.stderr.splitlines()]
    assert len(reasons) == 3 and all("without `eventSourceARN`" in r for r in reasons), reasons
    objects = sorted((tmp_path / "errors" / "processing-failed").rglob("*.gz"))
    # The failed records land in the hour of their change time, not in 1970.
    assert objects and all("year=2019/month=10/day=23/hour=16" in str(o) for o in objects), objects
    kept = []
    for failed in objects:
        with gzip.open(failed, "rt") as f:
            kept += [json.loads(base64.b64decode(json.loads(line)["rawData"])) for line in f]
    assert kept == json.loads(MUSIC.read_text())["Records"]


def test_every_table_and_every_value(lake, db, binary):
    tables = infer_tables(lake, binary=str(binary))
    assert sorted(t["Name"] for t in tables) == [
        "barktable_changes", "example_table_changes", "exampletablewithstream_changes",
        "music_changes", "powertoolseventsstack_dynamodbtable59784fc0_8nkamtertaxy_changes"]
    types = {(t["Name"], c["Name"]): c["Type"] for t in tables for c in t["StorageDescriptor"]["Columns"]}
    assert types[("music_changes", "awards")] == "bigint"
    assert types[("exampletablewithstream_changes", "id")] == "bigint"
    all_types = {c: types[("example_table_changes", c)] for c in [
        "binary", "boolean", "binaryset", "list", "map_name", "map_age", "floatnumber",
        "integernumber", "numberset", "null", "string", "stringset", "emptystringset"]}
    assert all_types == {
        "binary": "string", "boolean": "boolean", "binaryset": "array<string>", "list": "string",
        "map_name": "string", "map_age": "bigint", "floatnumber": "decimal(5,2)",
        "integernumber": "bigint", "numberset": "array<decimal(20,1)>", "null": "string",
        "string": "string", "stringset": "array<string>", "emptystringset": "array<string>"}
    assert assert_every_value_is_read_exactly(db, tables, lake) > 100
    (row,) = athena(db, 'SELECT * FROM "ddb_lake"."example_table_changes"')
    assert {k: row[k] for k in all_types} == {
        "binary": "AAEqQQ==", "boolean": True, "binaryset": ["AAEqQQ==", "AAEqQQ=="],
        "list": '["Cookies","Coffee",3.14159]', "map_name": "Joe", "map_age": 35,
        "floatnumber": Decimal("123.45"), "integernumber": 123,
        "numberset": [Decimal("1234"), Decimal("567.8")], "null": None, "string": "Hello",
        "stringset": ["Giraffe", "Zebra"], "emptystringset": []}
    assert (row["b2"], row["asdf2"]) == ("test", ["AAEqQQ==", "QSoBAA==", "AAEqQQ=="])


def test_current_state_of_each_table(db):
    def current(table: str) -> list[dict]:
        rows = athena(db, f'SELECT * FROM "ddb_lake"."{table}_changes_current"')
        return sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))

    assert current("music") == [
        {"_event_time": "2019-10-23T16:43:48.000000Z", "albumtitle": "Somewhat Famous",
         "artist": "No One You Know", "awards": 1, "songtitle": "Call Me Today"},
        {"_event_time": "2019-10-23T16:55:34.000000Z", "albumtitle": "Updated Album Title",
         "artist": "Acme Band", "awards": 10, "songtitle": "Happy Day"}]
    assert current("barktable") == [
        {"_event_time": "2016-11-18T20:09:00.000000Z", "timestamp": "2016-11-18:12:09:36",
         "message": "This is a bark from the Woofer social network", "username": "John Doe"}]
    # The Lambda guide's item is inserted, modified and removed: nothing is left.
    assert current("exampletablewithstream") == []
    kinesis = current("powertoolseventsstack_dynamodbtable59784fc0_8nkamtertaxy")
    assert sorted((r["id"], r["data"], r["_event_time"]) for r in kinesis) == [
        ("record-1qit2y819gi", "data-x6aq7ckdpgk", "2024-11-18T10:09:15.370000Z"),
        ("record-fvxn3q4q5jw", "data-4eompjs89n5", "2024-11-18T10:09:15.370000Z")]
    assert [r["val"] for r in current("example_table")] == ["data"]


def test_datehour_filters_the_history(db):
    def count(where: str) -> int:
        (row,) = athena(db, f'SELECT count(*) AS n FROM "ddb_lake"."music_changes" WHERE {where}')
        return row["n"]

    assert count("datehour = 'year=2019/month=10/day=23/hour=16'") == 3
    assert count("datehour >= 'year=2019/month=10/day=24/hour=00'") == 0


def test_replay_keeps_a_key_schema_written_from_describe_table(tmp_path, binary):
    # BarkTable's record lists its sort key first; DescribeTable says which is which.
    keys = tmp_path / "lake" / "_key_schemas"
    keys.mkdir(parents=True)
    described = {"TableName": "BarkTable",
                 "KeySchema": [{"AttributeName": "Username", "KeyType": "HASH"},
                               {"AttributeName": "Timestamp", "KeyType": "RANGE"}],
                 "AttributeDefinitions": [{"AttributeName": "Username", "AttributeType": "S"},
                                          {"AttributeName": "Timestamp", "AttributeType": "S"}]}
    (keys / "BarkTable.json").write_text(json.dumps(described))
    run(binary, "replay", DOCS / "streams-tutorial-barktable.json", "--lake", tmp_path)
    assert json.loads((keys / "BarkTable.json").read_text()) == described
    views = run(binary, "schema", "--lake", tmp_path, "--views")
    assert 'PARTITION BY "username", "timestamp"' in views
