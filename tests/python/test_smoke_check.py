"""The S3-reading and checking half of the smoke test (scripts/smoke_check.py), against moto's S3.

The rows are written the way Firehose writes them: gzip objects of newline-delimited JSON under
<prefix>table=/year=/month=/day=/hour=/ partitions taken from each row's change time.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import smoke_check  # noqa: E402

BUCKET = "lake-bucket"
PREFIX = "lake/"
TABLE = "orders"
PK = "smoke-1700000000-42"
SINCE = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
BIG = "12345678901234567890.123456"  # more digits than a double keeps


def row(event: str, sk: str, seconds: int, **attributes) -> dict:
    """A row as the transform contract writes it: metadata columns first, in order."""
    t = SINCE + dt.timedelta(seconds=seconds)
    out = {
        "_event_name": event,
        "_event_id": f"{event.lower()}-{sk}-{seconds}",
        "_event_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "_table_name": TABLE,
        "_aws_region": "eu-west-1",
        "_is_deleted": event == "REMOVE",
        "_expired_by_ttl": False,
        "_kinesis_shard_id": "shardId-000000000000",
        "_kinesis_sequence_number": str(49650000000000000000000000000000000000000000000000 + seconds),
        "pk": PK,
        "sk": sk,
    }
    out.update(attributes)
    return out


def encode_exact(rows: list[dict]) -> bytes:
    """NDJSON where Decimal values are written as bare numbers, digit for digit."""
    lines = []
    for r in rows:
        parts = []
        for k, v in r.items():
            text = str(v) if isinstance(v, Decimal) else json.dumps(v)
            parts.append(f"{json.dumps(k)}:{text}")
        lines.append("{" + ",".join(parts) + "}\n")
    return "".join(lines).encode()


def key_for(r: dict, name: str) -> str:
    t = dt.datetime.strptime(r["_event_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{PREFIX}table={TABLE}/year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/{name}"


def put(s3, rows: list[dict], name: str, compress: bool = True, key: str | None = None) -> None:
    body = encode_exact(rows)
    s3.put_object(Bucket=BUCKET, Key=key or key_for(rows[0], name),
                  Body=gzip.compress(body) if compress else body)


INSERT = row("INSERT", "order#1", 1, status="NEW", total=Decimal(BIG), address_city="Lisbon",
             address_postcode="1100-148", tags=["smoke", "test"])
MODIFY = row("MODIFY", "order#1", 2, status="SHIPPED", total=Decimal(BIG), address_city="Lisbon",
             address_postcode="1100-148", tags=["smoke", "test"])
REMOVE = row("REMOVE", "order#1", 3, status="SHIPPED", total=Decimal(BIG), address_city="Lisbon",
             address_postcode="1100-148", tags=["smoke", "test"])
EXPECTED = [
    {"_event_name": "INSERT", "pk": PK, "sk": "order#1", "status": "NEW", "total": Decimal(BIG),
     "address_city": "Lisbon", "_is_deleted": False},
    {"_event_name": "MODIFY", "pk": PK, "sk": "order#1", "status": "SHIPPED", "_is_deleted": False},
    {"_event_name": "REMOVE", "pk": PK, "sk": "order#1", "_is_deleted": True, "_expired_by_ttl": False},
]


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def expect_file(tmp_path):
    path = tmp_path / "expect.json"
    path.write_text(encode_exact_list(EXPECTED))
    return path


def encode_exact_list(items: list[dict]) -> str:
    return "[" + ",".join(encode_exact([i]).decode().strip() for i in items) + "]"


def argv(expect_file, timeout="5", poll="0.05", *extra):
    return ["--bucket", BUCKET, "--prefix", PREFIX, "--table", TABLE, "--match", f"pk={PK}",
            "--expect", str(expect_file), "--since", SINCE.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--timeout", timeout, "--poll", poll, "--region", "us-east-1", *extra]


def test_all_rows_arrived_exits_0(s3, expect_file, capsys):
    put(s3, [INSERT, MODIFY], "part-1.gz")
    put(s3, [REMOVE], "part-2", compress=False)  # plain NDJSON is read too
    # Rows of other keys in the same partition are ignored.
    put(s3, [dict(INSERT, pk="someone-else", _event_id="x")], "part-3.gz")

    assert smoke_check.main(argv(expect_file)) == 0
    assert "OK: 3 expected rows arrived" in capsys.readouterr().out


def test_missing_row_times_out_with_clear_message(s3, expect_file, capsys):
    put(s3, [INSERT, MODIFY], "part-1.gz")
    s3.put_object(Bucket=BUCKET, Key="errors/processing-failed/year=2025/x.gz", Body=b"x")

    assert smoke_check.main(argv(expect_file, "0.3", "0.05")) == 1
    err = capsys.readouterr().err
    assert "timed out after 0.3 s waiting for 1 of 3 rows with pk=" in err
    assert "missing: _event_name=REMOVE" in err
    assert "arrived: INSERT at" in err and "MODIFY at" in err
    assert "1 object(s) under s3://lake-bucket/errors/" in err


def test_nothing_arrived(s3, expect_file, capsys):
    assert smoke_check.main(argv(expect_file, "0.1", "0.05")) == 1
    err = capsys.readouterr().err
    assert "waiting for 3 of 3 rows" in err and "arrived: nothing" in err


def stream_row(r: dict) -> dict:
    """The same row from the DynamoDB Streams source: the stream's sequence number, no Kinesis columns."""
    out = {k: v for k, v in r.items() if not k.startswith("_kinesis_")}
    tail = {k: out.pop(k) for k in list(out) if not k.startswith("_")}
    return {**out, "_stream_sequence_number": "4421584500000000017450439" + r["_event_id"][-3:].zfill(3), **tail}


def test_rows_of_the_dynamodb_streams_source_pass(s3, expect_file, capsys):
    put(s3, [stream_row(INSERT), stream_row(MODIFY), stream_row(REMOVE)], "part-1.gz")
    assert smoke_check.main(argv(expect_file)) == 0
    assert "OK: 3 expected rows arrived" in capsys.readouterr().out


def test_rows_arriving_while_waiting_are_picked_up(s3, expect_file, capsys):
    put(s3, [INSERT], "part-1.gz")
    later = [[MODIFY], [REMOVE]]

    def sleep(_seconds):  # Firehose delivers the next buffer while we wait
        if later:
            put(s3, later.pop(0), f"late-{len(later)}.gz")

    args = smoke_check.parse_args(argv(expect_file, "60", "0"))
    assert smoke_check.run(args, s3, sleep=sleep) == 0
    assert capsys.readouterr().out.count("waiting: ") == 2


def test_numbers_are_compared_exactly(s3, tmp_path, capsys):
    put(s3, [INSERT, MODIFY, REMOVE], "part-1.gz")
    off_by_one = [dict(EXPECTED[0], total=Decimal("12345678901234567890.123457"))]
    path = tmp_path / "expect.json"
    path.write_text(encode_exact_list(off_by_one))
    assert smoke_check.main(argv(path, "0.1", "0.05")) == 1
    assert "total=12345678901234567890.123457" in capsys.readouterr().err


@pytest.mark.parametrize("broken, message", [
    (dict(MODIFY, address={"M": {"city": {"S": "Lisbon"}}}), "holds an object (DynamoDB type tag M)"),
    ({k: v for k, v in MODIFY.items() if k != "_event_id"} | {"_event_id": "moved"}, "metadata columns should come first"),
    # Half of the Kinesis position: the layout of neither source.
    ({k: v for k, v in MODIFY.items() if k != "_kinesis_shard_id"}, "metadata columns should come first"),
    (dict(MODIFY, _event_time=MODIFY["_event_time"][:-8] + "Z"), "is not RFC 3339 UTC with microseconds"),
    (dict(MODIFY, _is_deleted=True), "_is_deleted is True for MODIFY"),
])
def test_rows_breaking_the_contract_exit_2(s3, expect_file, capsys, broken, message):
    put(s3, [INSERT, broken, REMOVE], "part-1.gz")
    assert smoke_check.main(argv(expect_file)) == 2
    assert message in capsys.readouterr().err


def test_row_in_the_wrong_partition_exits_2(s3, expect_file, capsys):
    other_hour = key_for(row("INSERT", "x", -3600), "part-1.gz")  # listed, but not its hour
    put(s3, [INSERT], "part-1.gz", key=other_hour)
    assert smoke_check.main(argv(expect_file)) == 2
    assert "does not match table orders and _event_time" in capsys.readouterr().err


def test_invalid_json_line_exits_2(s3, expect_file, capsys):
    s3.put_object(Bucket=BUCKET, Key=key_for(INSERT, "bad.gz"), Body=gzip.compress(b'{"_event_name": \n'))
    assert smoke_check.main(argv(expect_file)) == 2
    assert "line 1 is not JSON" in capsys.readouterr().err


def test_hour_prefixes_cover_the_hour_before_and_after():
    since = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.timezone.utc)
    until = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.timezone.utc)
    assert smoke_check.hour_prefixes("lake/", "orders", since, until) == [
        "lake/table=orders/year=2025/month=12/day=31/hour=22/",
        "lake/table=orders/year=2025/month=12/day=31/hour=23/",
        "lake/table=orders/year=2026/month=01/day=01/hour=00/",
        "lake/table=orders/year=2026/month=01/day=01/hour=01/",
    ]
