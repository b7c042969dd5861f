"""scripts/smoke-test.sh end to end, without AWS: a stand-in `aws` command on PATH plays the
deployed stacks. It answers describe-stacks, applies the DynamoDB calls to an in-memory table
and, like the real pipeline, writes each change as a contract row (metadata columns, maps
flattened, exact numbers) into moto's S3 under the Firehose partition layout; Athena answers come
from the same changes. This checks the script's plumbing - outputs it reads, items it writes, the
rows it expects, how it reads Athena results - which the S3 checker tests alone do not.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]

FAKE_AWS = r'''#!PYTHON
import datetime as dt, gzip, json, os, re, sys, uuid
from decimal import Decimal

STATE = os.environ["FAKE_AWS_STATE"]
OUTPUTS = {"SourceTableName": "orders", "PartitionKeyName": "pk", "SortKeyName": "sk",
           "LakeBucketName": "lake-bucket", "TablePrefix": "lake/", "ErrorPrefix": "errors/",
           "GlueDatabaseName": "ddb_lake", "AthenaWorkGroupName": "lake"}
META = ["_event_name", "_event_id", "_event_time", "_table_name", "_aws_region", "_is_deleted",
        "_expired_by_ttl", "_kinesis_shard_id", "_kinesis_sequence_number"]

args = sys.argv[1:]
opts, words, i = {}, [], 0
while i < len(args):
    if args[i].startswith("--"):
        opts[args[i][2:]] = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else True
        i += 2 if opts[args[i][2:]] is not True else 1
    else:
        words.append(args[i]); i += 1
state = json.load(open(STATE)) if os.path.exists(STATE) else {"items": {}, "changes": [], "queries": {}}
with open(STATE + ".log", "a") as log:
    log.write(" ".join(words) + "\n")

def plain(v):
    (tag, x), = v.items()
    return {"S": lambda: x, "N": lambda: Decimal(x), "SS": lambda: list(x), "BOOL": lambda: x,
            "NULL": lambda: None}[tag]()

def flatten(image, prefix=""):
    out = {}
    for k, v in image.items():
        if "M" in v:
            out.update(flatten(v["M"], f"{prefix}{k}_"))
        else:
            out[prefix + k] = plain(v)
    return out

def emit(event, image):
    t = dt.datetime.now(dt.timezone.utc)
    row = dict(zip(META, [event, str(uuid.uuid4()), t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "orders",
                          "eu-west-1", event == "REMOVE", False, "shardId-000000000000",
                          str(len(state["changes"]) + 1)]))
    row.update(flatten(image))
    state["changes"].append(json.loads(json.dumps(row, default=str)))
    text = "{" + ",".join(f"{json.dumps(k)}:{v if isinstance(v, Decimal) else json.dumps(v)}"
                          for k, v in row.items()) + "}\n"
    key = f"lake/table=orders/year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/{uuid.uuid4()}.gz"
    import boto3  # only here: most calls need no AWS SDK, and importing it is slow
    boto3.client("s3").put_object(Bucket="lake-bucket", Key=key, Body=gzip.compress(text.encode()))

def key_of(k):
    return json.dumps(json.loads(k), sort_keys=True)

service, op = words[0], words[1]
if (service, op) == ("cloudformation", "describe-stacks"):
    print(OUTPUTS[re.search(r"OutputKey=='(\w+)'", opts["query"]).group(1)])
elif service == "dynamodb":
    if op == "put-item":
        item = json.loads(opts["item"])
        k = key_of(json.dumps({"pk": item["pk"], "sk": item["sk"]}))
        emit("MODIFY" if k in state["items"] else "INSERT", item)
        state["items"][k] = item
    elif op == "update-item":
        k = key_of(opts["key"])
        names, values = json.loads(opts["expression-attribute-names"]), json.loads(opts["expression-attribute-values"])
        name, value = re.fullmatch(r"SET (#\w+) = (:\w+)", opts["update-expression"]).groups()
        state["items"][k][names[name]] = values[value]
        emit("MODIFY", state["items"][k])
    elif op == "delete-item":
        k = key_of(opts["key"])
        if k in state["items"]:
            emit("REMOVE", state["items"].pop(k))
elif service == "athena":
    if op == "start-query-execution":
        qid = f"q{len(state['queries'])}"
        state["queries"][qid] = opts["query-string"]
        print(qid)
    elif op == "get-query-execution":
        print("SUCCEEDED")
    elif op == "get-query-results":
        sql = state["queries"][opts["query-execution-id"]]
        pk = re.search(r"\"pk\" = '([^']+)'", sql).group(1)
        if '"ddb_lake"."orders_changes_current"' in sql:
            latest = {}
            for c in state["changes"]:
                if c["pk"] == pk:
                    latest[c["sk"]] = c
            rows = [[c["sk"], c.get("status")] for c in latest.values() if not c["_is_deleted"]]
        else:
            # Athena's own behaviour, played: a partition filter on the keeper's datehour column
            # (a range reaching back at most a day here), and total read back as decimal(26,6) text.
            bound = re.search(r"\"datehour\" >= 'year=(\d{4})/month=(\d{2})/day=(\d{2})/hour=(\d{2})'", sql)
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            start = dt.datetime(*map(int, bound.groups())) if bound else None
            in_range = start is not None and now - dt.timedelta(days=1) <= start <= now
            text = lambda n: None if n is None else f"{Decimal(str(n)):.6f}"
            rows = [[c["sk"], c["_event_name"], c.get("status"), text(c.get("total"))]
                    for c in state["changes"] if c["pk"] == pk and in_range]
        cells = lambda r: {"Data": [{"VarCharValue": v} if v is not None else {} for v in r]}
        print(json.dumps({"ResultSet": {"Rows": [cells(["h"] * 4)] + [cells(r) for r in rows]}}))
else:
    sys.exit(f"fake aws: unexpected call {args}")
json.dump(state, open(STATE, "w"))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # moto keeps its state per process, across server instances: start from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "FAKE_AWS_STATE": str(tmp_path / "state.json"), "PYTHON": sys.executable}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(
        Bucket="lake-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS.replace("PYTHON", sys.executable, 1))
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield tmp_path
    server.stop()


def run_smoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "smoke-test.sh"), *args],
                          capture_output=True, text=True, timeout=120)


def test_smoke_test_passes_when_the_pipeline_delivers(fake_aws):
    result = run_smoke("--stack", "lake", "--timeout", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 5 expected rows arrived" in result.stdout
    assert "current state: order#2\tPAID" in result.stdout
    assert "SMOKE TEST PASSED" in result.stdout
    calls = (fake_aws / "state.json.log").read_text()
    # The test order that stayed is removed at the end.
    assert calls.splitlines()[-1] == "dynamodb delete-item"


def test_smoke_test_fails_clearly_when_rows_do_not_arrive(fake_aws):
    # Nothing reaches S3: the bucket the pipeline writes to is not the one the stack names.
    boto3.client("s3").create_bucket(Bucket="other-bucket",
                                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    aws = fake_aws / "bin" / "aws"
    aws.write_text(aws.read_text().replace('"LakeBucketName": "lake-bucket"', '"LakeBucketName": "other-bucket"'))
    result = run_smoke("--producer-stack", "a", "--consumer-stack", "b", "--timeout", "1")
    assert result.returncode != 0
    assert "timed out after 1 s waiting for 5 of 5 rows" in result.stderr
    assert "SMOKE TEST FAILED: the rows of pk=smoke-" in result.stderr


def test_smoke_test_fails_when_athena_reads_the_number_column_wrong(fake_aws):
    # Athena returning total through a double (12345678901234567168 instead of the exact decimal).
    aws = fake_aws / "bin" / "aws"
    aws.write_text(aws.read_text().replace('f"{Decimal(str(n)):.6f}"', 'f"{float(n):.6f}"'))
    result = run_smoke("--stack", "lake", "--timeout", "5")
    assert result.returncode != 0
    assert "number column total through Athena" in result.stderr


def test_smoke_test_fails_without_a_partition_filter(fake_aws, tmp_path):
    # Without a datehour range the fake Athena finds no rows (it plays a query that must filter).
    text = (ROOT / "scripts" / "smoke-test.sh").read_text()
    unfiltered = text.replace("AND \\\"datehour\\\" >= '$from_hour' ", "")
    assert unfiltered != text
    # A copy beside the checker it calls (the script runs from its repository's root).
    scripts = tmp_path / "repo" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "smoke_check.py").write_text((ROOT / "scripts" / "smoke_check.py").read_text())
    script = scripts / "smoke-test.sh"
    script.write_text(unfiltered)
    script.chmod(0o755)
    result = subprocess.run([str(script), "--stack", "lake", "--timeout", "5"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Athena sees 0 change rows" in result.stderr
