"""scripts/check-cloudformation.sh does fail when a template breaks a rule. (That the templates
pass all three checkers is checked by scripts/test.sh running the script itself.)

The script installs what is missing (cfn-lint/checkov into this interpreter's environment,
cfn-guard with cargo), so the first run on a fresh machine takes several minutes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path("scripts") / "check-cloudformation.sh"


def run_checks(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / SCRIPT)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHON": sys.executable})


def copy_project(tmp_path: Path) -> None:
    """A copy of the project's checked parts."""
    for part in ("scripts", "cloudformation"):
        shutil.copytree(ROOT / part, tmp_path / part)
    if (ROOT / "requirements-dev.txt").exists():
        shutil.copy(ROOT / "requirements-dev.txt", tmp_path)


def test_a_broken_template_fails_the_check(tmp_path):
    # A copy of the project's checked parts, with one template made non-compliant.
    copy_project(tmp_path)
    template = tmp_path / "cloudformation" / "lake-single-account.yaml"
    text = template.read_text()
    assert text.count("EnableKeyRotation: true") == 1
    template.write_text(text.replace("EnableKeyRotation: true", "EnableKeyRotation: false"))

    result = run_checks(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "rules.guard/kms_key_rotation" in out and "FAIL" in out
    assert "FAILED: cfn-guard on cloudformation/lake-single-account.yaml" in out
    assert "FAILED  CKV_AWS_7" in out  # checkov's rotation check agrees


def test_checkov_checks_the_resources_of_the_other_change_source(tmp_path):
    # The pipe's dead-letter queue exists only with ChangeSource=DynamoDBStreams, not the default:
    # checkov sees it only in the variant the script writes, and must fail it unencrypted.
    copy_project(tmp_path)
    template = tmp_path / "cloudformation" / "lake-single-account.yaml"
    text = template.read_text()
    queue = "    Condition: DynamoDBStreamsSource\n    Properties:\n      KmsMasterKeyId: !GetAtt LakeKey.Arn\n"
    assert text.count(queue) == 1
    template.write_text(text.replace(queue, "    Condition: DynamoDBStreamsSource\n    Properties:\n"))

    result = run_checks(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "also checked as variants: lake-producer.ChangeSource=DynamoDBStreams.yaml " \
           "lake-single-account.ChangeSource=DynamoDBStreams.yaml" in out
    # And with existing tables instead of the demo table.
    assert "lake-single-account.ExistingTableNames=orders,devices.yaml" in out
    assert "FAILED  CKV_AWS_27" in out and "lake-single-account.ChangeSource=DynamoDBStreams.yaml" in out
    assert "FAILED: checkov" in out
