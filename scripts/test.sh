#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). Installs what it needs on
# first use: Python tools into a cached virtualenv, cfn-guard through cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Rust: formatting and lints"
cargo fmt --check
cargo clippy --locked --all-targets --features moto-tests -- -D warnings

step "Python tools"
# Before the Rust tests: the moto suites (the moto-tests feature) run moto_server from this
# environment.
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh

step "Rust: unit, contract, property, CLI, Lambda-binary and moto_server (Kinesis) tests"
cargo test --locked --features moto-tests

if [ -x scripts/check-cloudformation.sh ]; then
  step "CloudFormation: cfn-lint, cfn-guard, checkov"
  scripts/check-cloudformation.sh
fi

if compgen -G "tests/python/test_*.py" >/dev/null; then
  step "Python tests"
  "$PYTHON" -m pytest -q tests/python
fi
