"""scripts/check-cloudformation.sh: the templates pass cfn-lint, cfn-guard (with the rule fixtures)
and checkov, and the script does fail when a template breaks a rule.

The script installs what is missing (cfn-lint/checkov into this interpreter's environment,
cfn-guard with cargo), so the first run on a fresh machine takes several minutes.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path("scripts") / "check-cloudformation.sh"


def run_checks(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / SCRIPT)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHON": sys.executable})


def test_templates_pass_all_three_checkers():
    result = run_checks(ROOT)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "cfn-lint:  0 errors, 0 warnings, 0 informational" in out
    rules = len(re.findall(r"^rule ", (ROOT / "cloudformation/guard/rules.guard").read_text(), re.M))
    assert f"fixtures: {rules} compliant passed, {rules} broken failed as required" in out
    assert re.search(r"checkov: +\d+ passed, 0 failed, \d+ skipped", out)


def test_a_broken_template_fails_the_check(tmp_path):
    # A copy of the project's checked parts, with one template made non-compliant.
    for part in ("scripts", "cloudformation"):
        shutil.copytree(ROOT / part, tmp_path / part)
    if (ROOT / "requirements-dev.txt").exists():
        shutil.copy(ROOT / "requirements-dev.txt", tmp_path)
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
