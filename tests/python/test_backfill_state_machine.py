"""The backfill state machine of cloudformation/backfill.yaml, run by moto's Step Functions
interpreter (moto's `stepfunctions` parser backend, `execute_state_machine`), its Lambda tasks
answered by the real backfill Lambda binary, against moto's S3.

What is the shipped definition and what is not, precisely:
* The definition is taken from the template with its DefinitionSubstitutions applied
  (scripts/state_machine.py), then two changes only, because moto's interpreter lacks them:
  the ItemReader's InputType JSONL becomes JSON and its Key the JSON-array copy of
  manifest-files.json that the test writes next to it (moto reads CSV and JSON only).
* Lambda invocations: moto's Lambda runs no custom runtime without Docker. Its invoke call is
  replaced (for this test only) by one that hands the payload to `backfill-lambda` through a
  Lambda Runtime API served here, and returns its response or error as Lambda would.
* Retry waits: the interval moto's interpreter asks for is recorded (to check the backoff) and
  slept for a hundredth of it.
Also run: Pass with intrinsic functions, the Distributed Map (ItemReader from S3, ItemSelector
with $$.Map.Item.Value, MaxConcurrencyPath), ResultWriter, Catch, Choice, Fail with CausePath.
Not run by moto (it reads but ignores them): ToleratedFailurePercentagePath and MaxConcurrency as
a limit; the content of ResultWriter's files (moto writes an empty manifest).
"""

import base64
import gzip
import hashlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from state_machine import definitions  # noqa: E402

EXPORT_ID = "01700000000000-5afe5afe"
FOLDER = f"exports/AWSDynamoDB/{EXPORT_ID}/"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class RuntimeApi:
    """The Lambda Runtime API for one function process: `invoke` hands it an event and waits."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = {}
        self.received = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                request_id, body = api.events.get()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:backfill")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("/")
                kind, request_id = parts[-1], parts[-2]
                api.answers[request_id].put((kind, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.lock = threading.Lock()

    def invoke(self, payload):
        # One invocation at a time, as one Lambda execution environment runs them.
        with self.lock:
            request_id = str(uuid.uuid4())
            answer = self.answers[request_id] = queue.Queue()
            self.received.append(json.loads(payload))
            self.events.put((request_id, payload))
            return answer.get(timeout=120)


def items(prefix, n):
    return "".join(
        json.dumps({"Item": {"id": {"S": f"{prefix}{i}"}, "n": {"N": f"{i}.5"},
                             "doc": {"M": {"tags": {"SS": ["a", "b"]}}}}}) + "\n"
        for i in range(n))


def write_export(s3, files):
    """An export in the bucket `exports`, and the JSON-array copy of its manifest for moto."""
    lines = []
    total = 0
    for stem, text in files:
        data = gzip.compress(text.encode(), mtime=0)
        key = f"{FOLDER}data/{stem}.json.gz"
        s3.put_object(Bucket="exports", Key=key, Body=data)
        count = len(text.splitlines())
        total += count
        lines.append({"itemCount": count,
                      "md5Checksum": base64.b64encode(hashlib.md5(data).digest()).decode(),
                      "etag": hashlib.md5(data).hexdigest() + "-1", "dataFileS3Key": key})
    s3.put_object(Bucket="exports", Key=f"{FOLDER}manifest-files.json",
                  Body="".join(json.dumps(x) + "\n" for x in lines).encode())
    s3.put_object(Bucket="exports", Key=f"{FOLDER}manifest-files.array.json",
                  Body=json.dumps(lines).encode())
    s3.put_object(Bucket="exports", Key=f"{FOLDER}manifest-summary.json", Body=json.dumps({
        "version": "2020-06-30",
        "exportArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/things/export/{EXPORT_ID}",
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/things",
        "exportTime": "2023-11-14T22:13:20.123Z", "itemCount": total,
        "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT",
    }).encode())
    return lines


def moto_definition(function_arn, lake_bucket):
    text = json.dumps(definitions(ROOT / "cloudformation/backfill.yaml", {
        "BackfillFunctionArn": function_arn, "LakeBucketName": lake_bucket,
        "LakeKmsKeyArn": KMS_KEY, "TablePrefix": "lake/", "ErrorPrefix": "errors/",
        "ReportPrefix": "backfill-reports/", "MaxConcurrency": "2",
        "ToleratedFailurePercentage": "0",
    })["StateMachine"])
    for old, new in [('"InputType": "JSONL"', '"InputType": "JSON"'),
                     ("{}manifest-files.json'", "{}manifest-files.array.json'")]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def aws(tmp_path_factory, cargo_bin):
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.server import ThreadedMotoServer
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    lambda_binary = str(cargo_bin("backfill-lambda"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # The interpreter calls the other services through this server.
    old_moto_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    urllib.request.urlopen(urllib.request.Request(
        endpoint + "/moto-api/config", method="POST",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True},
                         "lambda": {"use_docker": False}}).encode()))

    runtime = RuntimeApi()
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "FLATTEN_SEPARATOR", "METADATA_PREFIX", "LIST_MODE")}
    env.update(AWS_LAMBDA_RUNTIME_API=runtime.address, AWS_LAMBDA_FUNCTION_NAME="backfill",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_LOG_STREAM_NAME="test", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/backfill",
               AWS_ENDPOINT_URL_S3=endpoint, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", RUST_LOG="warn")
    logs = tmp_path_factory.mktemp("lambda") / "stderr.log"
    process = subprocess.Popen([lambda_binary], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(logs, "wb"))

    original_invoke = LambdaSimpleBackend.invoke
    original_sleep = retrier_decl.time.sleep
    waits = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        kind, answer = runtime.invoke(body if isinstance(body, bytes) else body.encode())
        if kind == "error":
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    class Clock:
        @staticmethod
        def sleep(seconds):
            waits.append(seconds)
            original_sleep(seconds / 100)

    LambdaSimpleBackend.invoke = invoke
    retrier_decl.time = Clock
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="test", aws_secret_access_key="test")
    clients = {name: boto3.client(name, **kw) for name in ("s3", "stepfunctions", "lambda", "iam")}
    try:
        yield clients, runtime, waits, endpoint
    finally:
        LambdaSimpleBackend.invoke = original_invoke
        retrier_decl.time = time
        if old_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = old_moto_port
        process.kill()
        process.wait()
        server.stop()


def deploy(clients, name, lake_bucket):
    s3, sfn, lam, iam = (clients[n] for n in ("s3", "stepfunctions", "lambda", "iam"))
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bootstrap", "")
    function_arn = lam.create_function(
        FunctionName=f"{name}-backfill", Runtime="provided.al2023", Role=role, Handler="bootstrap",
        Code={"ZipFile": archive.getvalue()})["FunctionArn"]
    s3.create_bucket(Bucket=lake_bucket)
    return sfn.create_state_machine(
        name=f"{name}-backfill", roleArn=role,
        definition=moto_definition(function_arn, lake_bucket))["stateMachineArn"]


def run(sfn, machine):
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(
        {"exportBucket": "exports", "exportFolder": FOLDER}))["executionArn"]
    deadline = time.time() + 300
    while time.time() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError("the execution did not finish")


def lake_objects(s3, bucket, prefix=""):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_the_state_machine_loads_every_data_file_and_summarizes(aws, tmp_path, cargo_bin):
    clients, runtime, waits, endpoint = aws
    s3 = clients["s3"]
    s3.create_bucket(Bucket="exports")
    bad = '{"Item":{"id":\n'
    files = [("a" * 26, items("a", 300)), ("b" * 26, items("b", 20) + bad), ("c" * 26, "")]
    lines = write_export(s3, files)
    machine = deploy(clients, "ok", "lake-ok")
    first = len(runtime.received)

    done = run(clients["stepfunctions"], machine)
    assert done["status"] == "SUCCEEDED", done
    summary = json.loads(done["output"])
    assert summary["files"] == 3 and summary["filesLoaded"] == 3 and summary["filesFailed"] == 0
    assert (summary["items"], summary["rows"], summary["failedItems"]) == (321, 320, 1)
    assert summary["failures"] == {"not_json": 1}
    assert summary["failedFiles"] == []

    # One loadDataFile task per manifest line, built by the ItemSelector; then summarize.
    payloads = runtime.received[first:]
    loads = [p for p in payloads if p["action"] == "loadDataFile"]
    assert sorted(p["dataFileS3Key"] for p in loads) == sorted(x["dataFileS3Key"] for x in lines)
    assert loads[0]["export"] == f"s3://exports/{FOLDER}"
    assert {k: loads[0][k] for k in ("lake", "kmsKeyId", "tablePrefix", "errorPrefix", "reportPrefix")} == {
        "lake": "s3://lake-ok/", "kmsKeyId": KMS_KEY, "tablePrefix": "lake/",
        "errorPrefix": "errors/", "reportPrefix": "backfill-reports/"}
    assert payloads[-1]["action"] == "summarize"

    # The lake holds what `ddb-lake backfill` writes for the same export, SSE-KMS with the key.
    local_export = tmp_path / "export"
    (local_export / "data").mkdir(parents=True)
    for key in [x["dataFileS3Key"] for x in lines] + [f"{FOLDER}manifest-files.json", f"{FOLDER}manifest-summary.json"]:
        (local_export / key[len(FOLDER):]).write_bytes(s3.get_object(Bucket="exports", Key=key)["Body"].read())
    local_lake = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if k not in ("FLATTEN_SEPARATOR", "METADATA_PREFIX", "LIST_MODE")}
    subprocess.run([str(cargo_bin("ddb-lake")), "backfill", str(local_export), "--lake", str(local_lake)],
                   check=True, capture_output=True, env=env)
    expected = {str(p.relative_to(local_lake)): p.read_bytes() for p in local_lake.rglob("*") if p.is_file()}
    written = lake_objects(s3, "lake-ok")
    reports = {k for k in written if k.startswith("backfill-reports/")}
    assert {k for k in reports if k.startswith(f"backfill-reports/{EXPORT_ID}/")} == {
        f"backfill-reports/{EXPORT_ID}/{stem}.json" for stem, _ in files}
    assert any(k.startswith("backfill-reports/map-runs/") for k in reports)  # ResultWriter
    assert {k: v for k, v in written.items() if k not in reports} == expected
    for key in expected:
        head = s3.head_object(Bucket="lake-ok", Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)


def test_a_file_that_keeps_failing_is_retried_then_reported(aws):
    clients, runtime, waits, endpoint = aws
    s3 = clients["s3"]
    s3.create_bucket(Bucket="exports")
    lines = write_export(s3, [("d" * 26, items("d", 30)), ("e" * 26, items("e", 10))])
    damaged_key = lines[1]["dataFileS3Key"]
    data = bytearray(s3.get_object(Bucket="exports", Key=damaged_key)["Body"].read())
    data[15] ^= 0xFF
    s3.put_object(Bucket="exports", Key=damaged_key, Body=bytes(data))
    machine = deploy(clients, "bad", "lake-bad")
    first, waited = len(runtime.received), len(waits)

    done = run(clients["stepfunctions"], machine)
    assert done["status"] == "FAILED", done
    assert done["error"] == "BackfillIncomplete"
    summary = json.loads(done["cause"])
    assert (summary["files"], summary["filesFailed"]) == (2, 1)
    assert summary["failedFiles"][0]["dataFileS3Key"] == damaged_key
    assert "md5Checksum" in summary["failedFiles"][0]["error"]
    # The damaged file: its first attempt and two retries (DataFileFailed: MaxAttempts 2), each
    # wait within the backoff (10 s, then 30 s, full jitter).
    attempts = [p for p in runtime.received[first:] if p.get("dataFileS3Key") == damaged_key]
    assert len(attempts) == 3
    retry_waits = waits[waited:]
    assert len(retry_waits) == 2, retry_waits
    assert 0 <= retry_waits[0] <= 10 and 0 <= retry_waits[1] <= 30, retry_waits
