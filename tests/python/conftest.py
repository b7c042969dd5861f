"""Fixtures shared by the Python tests."""
from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]


@cache
def _built(name: str) -> Path:
    # scripts/cargo-bin.sh builds (cheap when up to date; a fresh clone builds it) and prints the
    # path cargo reports, so CARGO_TARGET_DIR and build.target-dir are honoured.
    done = subprocess.run([str(ROOT / "scripts" / "cargo-bin.sh"), "--quiet", "--bin", name],
                          cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    (path,) = done.stdout.splitlines()
    return Path(path)


@pytest.fixture(scope="session")
def cargo_bin() -> Callable[[str], Path]:
    """The path of one of the crate's binaries by name (`ddb-lake`, `bootstrap`), built first."""
    return _built
