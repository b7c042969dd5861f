#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). Installs what it needs on
# first use: Python tools into a cached virtualenv, cfn-guard through cargo.
#
# A plain `cargo test` needs nothing but Rust and reports the moto_server suites as not run;
# this script also turns them on (the `moto-tests` feature, moto_server from the Python tools),
# then runs the CloudFormation checkers and the Python tests. Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suites that need moto_server; exported so that the builds the Python tests ask for
# (scripts/cargo-bin.sh) reuse this build instead of making another.
export DDB_LAKE_FEATURES=moto-tests
started=$SECONDS
current="start"
rust_log=$(mktemp)
python_log=$(mktemp)

step() {
  current=$*
  printf '\n==> %s\n' "$*"
}

# One line at the end: passed (with the test counts) or the step that failed.
summary() {
  local status=$? took=$((SECONDS - started)) rust python
  # cargo prints one "test result:" line per test binary; pytest -q ends with "N passed in Ts".
  rust=$(awk '/^test result:/ { p += $4; f += $6; i += $8 }
              END { if (NR) printf "%d passed, %d failed, %d ignored", p, f, i }' "$rust_log")
  python=$(grep -E '[0-9]+ (passed|failed)' "$python_log" | tail -n 1 | sed -E 's/=//g; s/^ +//; s/ in [0-9.]+s.*//' || true)
  rm -f "$rust_log" "$python_log"
  if [ "$status" -eq 0 ]; then
    printf '\nscripts/test.sh: PASSED in %dm %ds (Rust, moto suites included: %s; Python: %s)\n' \
      $((took / 60)) $((took % 60)) "${rust:-not run}" "${python:-not run}"
  else
    printf '\nscripts/test.sh: FAILED at "%s" after %dm %ds\n' "$current" $((took / 60)) $((took % 60)) >&2
  fi
}
trap summary EXIT

step "Rust: formatting and lints"
cargo fmt --check
cargo clippy --locked --all-targets --features "$DDB_LAKE_FEATURES" -- -D warnings

step "Python tools"
# Before the Rust tests: the moto suites run moto_server from this environment.
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh

step "Rust: unit, contract, property, CLI, Lambda-binary and moto_server (Kinesis) tests"
cargo test --locked --features "$DDB_LAKE_FEATURES" 2>&1 | tee "$rust_log"

if [ -x scripts/check-cloudformation.sh ]; then
  step "CloudFormation: cfn-lint, cfn-guard, checkov"
  scripts/check-cloudformation.sh
fi

if compgen -G "tests/python/test_*.py" >/dev/null; then
  step "Python tests"
  "$PYTHON" -m pytest -q tests/python 2>&1 | tee "$python_log"
fi
