"""scripts/deploy.sh run for real, with a stand-in `aws` on PATH (AWS is not reachable): the stand-in
answers from a small JSON world (stacks, their parameters, outputs, resources and status, tables)
with the AWS CLI's own --query language (JMESPath) and records every call.

Each case runs under the bash on PATH and, when one is found, under bash 3.2 (macOS's), which
treats an empty "${array[@]}" as an unbound variable under `set -u`: DDB_LAKE_BASH32 names it
(default /tmp/bash32/bash, built from bash-3.2.48's source).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH32 = Path(os.environ.get("DDB_LAKE_BASH32", "/tmp/bash32/bash"))
SHELLS = [pytest.param("bash", id="bash")] + [pytest.param(
    str(BASH32), id="bash-3.2",
    marks=pytest.mark.skipif(not BASH32.is_file(), reason=f"no bash 3.2 at {BASH32} (DDB_LAKE_BASH32)"))]

AWS_STUB = r'''#!PYTHON
import json, os, sys
import jmespath
world_path = os.environ["STUB_WORLD"]
world = json.load(open(world_path))
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "pager": os.environ.get("AWS_PAGER")}) + "\n")
def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default
while args and args[0] in ("--profile", "--region"):
    args = args[2:]
service, command = args[0], args[1]
def answer(document):
    value = jmespath.search(opt("--query"), document) if opt("--query") else document
    if opt("--output") == "text":
        print("None" if value is None else value)
    else:
        print(json.dumps(value))
stack = world.get("stacks", {}).get(opt("--stack-name", ""))
if service == "cloudformation" and command == "describe-stacks":
    if stack is None:
        sys.stderr.write("An error occurred (ValidationError): Stack does not exist\n"); sys.exit(255)
    answer({"Stacks": [{"StackStatus": stack["status"],
                        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.get("parameters", {}).items()],
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in stack.get("outputs", {}).items()]}]})
elif service == "cloudformation" and command == "describe-stack-resources":
    if stack is None:
        sys.exit(255)
    wanted = opt("--logical-resource-id")
    answer({"StackResources": [{"LogicalResourceId": k, "PhysicalResourceId": v, "ResourceStatus": "CREATE_COMPLETE"}
                               for k, v in stack.get("resources", {}).items() if wanted in (None, k)]})
elif service == "cloudformation" and command == "deploy":
    world["stacks"].setdefault(opt("--stack-name"), {"status": "CREATE_COMPLETE"})
    json.dump(world, open(world_path, "w"))
elif service == "cloudformation" and command == "delete-stack":
    world["stacks"].pop(opt("--stack-name"))
    json.dump(world, open(world_path, "w"))
elif service == "dynamodb" and command == "describe-table":
    sys.exit(0 if opt("--table-name") in world.get("tables", []) else 255)
elif service == "dynamodb" and command == "delete-table":
    world["tables"].remove(opt("--table-name"))
    json.dump(world, open(world_path, "w"))
'''


def run(shell: str, tmp_path: Path, world: dict, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """deploy.sh ARGS in a copy of the repository's layout, with the stand-ins; returns the AWS calls."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "scripts" / "deploy.sh", repo / "scripts" / "deploy.sh")
    lambdas = repo / "target" / "lambda"
    lambdas.mkdir(parents=True, exist_ok=True)
    for binary in ("bootstrap", "table-attach", "schema-keeper"):
        (lambdas / f"{binary}.zip").write_bytes(b"zip")
        (lambdas / f"{binary}.arch").write_text("arm64\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws = bin_dir / "aws"
    aws.write_text(AWS_STUB.replace("PYTHON", sys.executable, 1))
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    # Emptying the bucket goes through boto3: a stand-in records it instead.
    python = bin_dir / "python-stub"
    python.write_text(f"#!/bin/sh\necho python \"$@\" >> {tmp_path / 'python.log'}\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "world.json").write_text(json.dumps(world))
    log = tmp_path / "aws.log"
    log.write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "STUB_WORLD": str(tmp_path / "world.json"),
           "STUB_LOG": str(log), "PYTHON": str(python), "AWS_PAGER": "less"}
    done = subprocess.run([shell, str(repo / "scripts" / "deploy.sh"), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return done, calls


def commands(calls: list[dict]) -> list[str]:
    return [" ".join(c["args"][:2]) for c in calls]


def overrides(calls: list[dict]) -> list[str]:
    (deploy,) = [c["args"] for c in calls if c["args"][:2] == ["cloudformation", "deploy"]]
    return deploy[deploy.index("--parameter-overrides") + 1:]


@pytest.mark.parametrize("shell", SHELLS)
def test_single_without_options_passes_only_the_architecture(shell, tmp_path):
    # No --tables, --source or Key=Value: every optional array is empty.
    done, calls = run(shell, tmp_path, {"stacks": {}}, "single", "--stack", "lake", "--artifact-bucket", "art", "--no-build")
    assert done.returncode == 0, done.stderr
    assert commands(calls)[:2] == ["cloudformation package", "cloudformation deploy"]
    assert overrides(calls) == ["LambdaArchitecture=arm64"]
    assert {c["pager"] for c in calls} == {""}, "the AWS CLI v2 pager must be off"


@pytest.mark.parametrize("shell", SHELLS)
def test_single_passes_tables_source_and_parameters(shell, tmp_path):
    done, calls = run(shell, tmp_path, {"stacks": {}}, "single", "--stack", "lake", "--artifact-bucket", "art",
                      "--no-build", "--tables", "orders, devices", "--source", "kinesis", "--", "LambdaInVpc=true")
    assert done.returncode == 0, done.stderr
    assert overrides(calls) == ["LambdaArchitecture=arm64", "ChangeSource=KinesisDataStreams",
                                "ExistingTableNames=orders,devices", "LambdaInVpc=true"]


@pytest.mark.parametrize("shell", SHELLS)
def test_upper_case_stack_names_are_refused(shell, tmp_path):
    # The Glue database is named after the stack, and Glue names are lower-case.
    done, calls = run(shell, tmp_path, {"stacks": {}}, "single", "--stack", "Lake", "--artifact-bucket", "art", "--no-build")
    assert done.returncode == 64 and "lower-case" in done.stderr
    assert "cloudformation deploy" not in commands(calls)


@pytest.mark.parametrize("shell", SHELLS)
def test_backup_cannot_be_turned_off(shell, tmp_path):
    world = {"stacks": {"lake": {"status": "UPDATE_COMPLETE", "parameters": {"BackupRawRecords": "true"}}}}
    done, calls = run(shell, tmp_path, world, "single", "--stack", "lake", "--artifact-bucket", "art", "--no-build",
                      "--", "BackupRawRecords=false")
    assert done.returncode == 64 and "cannot turn that off" in done.stderr
    assert "cloudformation deploy" not in commands(calls)
    world["stacks"]["lake"]["parameters"]["BackupRawRecords"] = "false"
    done, calls = run(shell, tmp_path, world, "single", "--stack", "lake", "--artifact-bucket", "art", "--no-build",
                      "--", "BackupRawRecords=false")
    assert done.returncode == 0, done.stderr


CONSUMER_OUTPUTS = {"ProducerStackName": "lake-a", "ConsumerAccountId": "222222222222", "LakeBucketName": "lake-b-bucket",
                    "LakeKmsKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/k", "TablePrefix": "lake/", "ErrorPrefix": "errors/"}


@pytest.mark.parametrize("shell", SHELLS)
def test_producer_takes_everything_from_the_consumers_outputs(shell, tmp_path):
    world = {"stacks": {"lake-b": {"status": "CREATE_COMPLETE", "outputs": CONSUMER_OUTPUTS}}}
    done, calls = run(shell, tmp_path, world, "producer", "--stack", "lake-a", "--artifact-bucket", "art", "--no-build",
                      "--consumer-stack", "lake-b")
    assert done.returncode == 0, done.stderr
    assert overrides(calls) == ["LambdaArchitecture=arm64", "ConsumerAccountId=222222222222", "LakeBucketName=lake-b-bucket",
                                "LakeKmsKeyArn=arn:aws:kms:eu-west-1:222222222222:key/k", "TablePrefix=lake/", "ErrorPrefix=errors/"]
    # A consumer admitting another producer stack is refused before anything is deployed.
    done, calls = run(shell, tmp_path, world, "producer", "--stack", "lake-other", "--artifact-bucket", "art", "--no-build",
                      "--consumer-stack", "lake-b")
    assert done.returncode == 65 and "--producer-stack lake-other" in done.stderr
    assert "cloudformation deploy" not in commands(calls)


@pytest.mark.parametrize("shell", SHELLS)
def test_consumer_needs_the_producer_stack(shell, tmp_path):
    done, _ = run(shell, tmp_path, {"stacks": {}}, "consumer", "--stack", "lake-b", "--artifact-bucket", "art", "--no-build",
                  "--producer-account", "111111111111")
    assert done.returncode == 64 and "--producer-stack" in done.stderr
    done, calls = run(shell, tmp_path, {"stacks": {}}, "consumer", "--stack", "lake-b", "--artifact-bucket", "art", "--no-build",
                      "--producer-account", "111111111111", "--producer-stack", "lake-a")
    assert done.returncode == 0, done.stderr
    assert overrides(calls)[:2] == ["ProducerAccountId=111111111111", "ProducerStackName=lake-a"]


RESOURCES = {"SourceTable": "orders", "LakeBucket": "lake-bucket-x", "LakeKey": "key-1"}


@pytest.mark.parametrize("shell", SHELLS)
def test_teardown_of_a_failed_first_create_finds_resources_by_logical_id(shell, tmp_path):
    # ROLLBACK_FAILED: no outputs; the table its rollback could not delete is found by logical ID,
    # waited for, and deleted with the rest, so a retry does not collide with it.
    world = {"stacks": {"lake": {"status": "ROLLBACK_FAILED", "resources": RESOURCES}}, "tables": ["orders"]}
    done, calls = run(shell, tmp_path, world, "teardown", "--stack", "lake")
    assert done.returncode == 0, done.stderr
    sequence = [" ".join(c["args"][:2]) for c in calls if c["args"][1] != "describe-stack-resources"]
    assert sequence.index("dynamodb wait") < sequence.index("cloudformation delete-stack")
    assert "dynamodb delete-table" in sequence and "s3api delete-bucket" in sequence and "kms schedule-key-deletion" in sequence
    assert ["dynamodb", "update-table", "--table-name", "orders", "--no-deletion-protection-enabled"] in [c["args"] for c in calls]
    assert json.loads((tmp_path / "world.json").read_text())["tables"] == []
    assert "lake-bucket-x" in (tmp_path / "python.log").read_text()


@pytest.mark.parametrize("shell", SHELLS)
def test_teardown_keeps_the_data_unless_asked(shell, tmp_path):
    world = {"stacks": {"lake": {"status": "UPDATE_COMPLETE", "resources": RESOURCES, "outputs": {}}}, "tables": ["orders"]}
    done, calls = run(shell, tmp_path, world, "teardown", "--stack", "lake")
    assert done.returncode == 0, done.stderr
    names = commands(calls)
    assert "cloudformation delete-stack" in names
    assert not {"dynamodb delete-table", "s3api delete-bucket", "kms schedule-key-deletion"} & set(names)
    assert "s3://lake-bucket-x" in done.stdout and "--tables orders" in done.stdout
    world["stacks"]["lake"]["status"] = "DELETE_FAILED"
    done, calls = run(shell, tmp_path, world, "teardown", "--stack", "lake", "--delete-data")
    assert done.returncode == 0, done.stderr
    assert {"cloudformation delete-stack", "dynamodb delete-table", "s3api delete-bucket"} <= set(commands(calls))


def test_every_array_that_can_be_empty_is_expanded_safely():
    # bash 3.2 stops on "${a[@]}" of an empty array under set -u; the arrays that always hold
    # something (bins, args, consumer_aws) may be expanded plainly.
    text = (ROOT / "scripts" / "deploy.sh").read_text()
    import re
    plain = {m.group(1) for m in re.finditer(r'(?<!\+)"\$\{(\w+)\[@\]\}"', text)}
    guarded = set(re.findall(r'\$\{(\w+)\[@\]\+"\$\{\1\[@\]\}"\}', text))
    assert plain - guarded <= {"bins", "args", "consumer_aws", "a"}
    assert {"overrides", "source_overrides", "table_overrides", "from_consumer", "from_lake"} <= guarded
