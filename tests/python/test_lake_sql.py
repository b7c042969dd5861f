"""The shipped Athena SQL (sql/), run on DuckDB over a local lake written by `ddb-lake backfill` and
`ddb-lake replay`.

Each file is translated from Athena SQL with sqlglot (scripts/lake_sql.py, the same helper the
docs point people to). The Glue table is stood in for by a DuckDB view reading the lake's gzip'd
JSON lines with the Glue table's own columns and partition keys (read from the stack template), so
columns a row lacks are NULL and attributes the table lacks are ignored, as with Athena's JSON
SerDe. Expected answers are computed independently from the rows.
"""
from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from current_state_model import expected_current_state

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lake_sql import athena, connect, defaults, load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-records" / "change-records.jsonl"
EXPORT = ROOT / "sample-records" / "export"
SQL = ROOT / "sql"
TEMPLATE = ROOT / "cloudformation" / "lake-single-account.yaml"
EXPORT_TIME = "2025-11-20T08:00:00.000000Z"


@pytest.fixture(scope="module")
def binary(cargo_bin) -> Path:
    return cargo_bin("ddb-lake")


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


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


def current_state(db) -> dict[tuple, dict]:
    athena(db, (SQL / "current_state.sql").read_text())
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


def test_current_state_view(lake, template):
    db = connect(lake, template)
    got = current_state(db)
    want = expected_current_state(lake_rows(lake))
    assert set(got) == set(want)
    for key, row in want.items():
        assert got[key]["last_changed"] == row["_event_time"]
        assert got[key]["status"] == row.get("status")

    # A MODIFY overrides the INSERT.
    paid = got[("CUSTOMER#00042", "ORDER#2025-11-20#1001")]
    assert (paid["status"], paid["last_changed"]) == ("PAID", "2025-11-20T10:00:00.250417Z")
    # A REMOVE removes; the TTL's too.
    assert ("CUSTOMER#00007", "ORDER#2025-11-20#1002") not in got
    # Backfilled rows the stream later removed are gone, the others are as exported.
    assert ("CUSTOMER#00042", "ORDER#2025-11-01#0999") not in got
    assert ("SESSION#abc", "SESSION#abc") not in got
    shipped = got[("CUSTOMER#00100", "ORDER#2025-10-30#0900")]
    assert shipped["last_changed"] == EXPORT_TIME
    assert (shipped["status"], shipped["total"], shipped["address_city"], shipped["tags"]) == \
        ("SHIPPED", Decimal("120"), "Bern", ["express"])


def test_a_later_change_overrides_a_backfilled_row_and_an_earlier_one_does_not(lake, binary, template):
    keys = {"pk": {"S": "CUSTOMER#00100"}, "sk": {"S": "ORDER#2025-10-30#0900"}}
    image = lambda status: {**keys, "status": {"S": status}, "total": {"N": "120.00"}}
    changes = lake / "changes.jsonl"
    changes.write_text(
        # 10:30, after the export: the item is now DELIVERED.
        change("late-1", "MODIFY", 1763634600000, image("DELIVERED"), keys) + "\n"
        # 07:00, before the export, delivered late: the export already holds a newer state.
        + change("early-1", "MODIFY", 1763622000000, image("PACKED"), keys) + "\n")
    run(binary, "replay", changes, "--lake", lake)
    got = current_state(connect(lake, template))[("CUSTOMER#00100", "ORDER#2025-10-30#0900")]
    assert (got["status"], got["last_changed"]) == ("DELIVERED", "2025-11-20T10:30:00.000000Z")


def test_a_duplicate_delivery_changes_nothing(lake, binary, template):
    before = current_state(connect(lake, template))
    # The stream delivers the MODIFY of 1001 once more, in a later batch of its own.
    duplicate = SAMPLE.read_text().splitlines()[1]
    assert '"eventName": "MODIFY"' in duplicate
    again = lake / "again.jsonl"
    again.write_text(duplicate + "\n")
    run(binary, "replay", again, "--lake", lake)
    db = connect(lake, template)
    copies = athena(db, """SELECT count(*) AS n FROM "ddb_lake"."orders_changes"
                           WHERE _event_id = '3f6e9a1c-5b2d-4c7e-9f10-000000000002'""")
    assert copies == [{"n": 3}]  # twice in the sample, once more now
    assert current_state(db) == before


def test_example_queries(lake, template):
    db = connect(lake, template)
    athena(db, (SQL / "current_state.sql").read_text())
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
            {"year": "2025", "month": "11", "day": "20", "expired_items": 1},
        ],
        "changes_per_hour.sql": [
            {"table": "orders", "year": "2025", "month": "11", "day": "20", "hour": h,
             "_event_name": e, "changes": n}
            for h, e, n in [("08", "INSERT", 5), ("09", "INSERT", 1), ("10", "INSERT", 1),
                            ("10", "MODIFY", 1), ("10", "REMOVE", 3)]
        ],
    }
    examples = sorted(p.name for p in (SQL / "examples").glob("*.sql"))
    assert examples == sorted(answers), "every example query has its expected answer here"
    for name, want in answers.items():
        assert athena(db, (SQL / "examples" / name).read_text()) == want, name


def test_the_view_answers_like_the_stacks_saved_query(lake, template):
    """sql/current_state.sql and the template's named query must agree."""
    names = defaults(template)
    names.update({"GlueDatabase": names["GlueDatabaseName"], "ChangesTable": names["GlueTableName"]})
    queries = [q for q in template["Resources"].values() if q["Type"] == "AWS::Athena::NamedQuery"]
    saved = next(sub(q["Properties"]["QueryString"], names) for q in queries
                 if "current state" in q["Properties"]["Name"]["Fn::Sub"])
    db = connect(lake, template)
    ours = current_state(db)
    theirs = {(r["pk"], r["sk"]): r for r in athena(db, saved)}
    assert theirs == ours


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
    # Glue reads the partitions where the rows are.
    location = sub(resource(template, "AWS::Glue::Table")["TableInput"]["Parameters"]
                   ["storage.location.template"], {**names, "LakeBucket": "bucket"})
    assert location == "s3://bucket/" + prefix.replace("!{partitionKeyFromLambda:", "${")

    # A record that fails lands under the error prefix with the output type.
    bad = lake / "bad.jsonl"
    bad.write_text(SAMPLE.read_text().splitlines()[0].replace('"INSERT"', '"UPSERT"') + "\n")
    subprocess.run([str(binary), "replay", bad, "--lake", lake], check=True, capture_output=True)
    errors = [p.relative_to(lake).as_posix() for p in (lake / names["ErrorPrefix"]).rglob("*.gz")]
    assert len(errors) == 1
    error_pattern = as_pattern(error_prefix.replace("!{firehose:error-output-type}", "processing-failed"))
    assert error_pattern.match(errors[0]), (error_prefix, errors)
