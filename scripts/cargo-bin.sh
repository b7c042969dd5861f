#!/usr/bin/env bash
# Builds with cargo and tells where the executables are, as cargo itself reports them (its JSON
# build messages), so CARGO_TARGET_DIR, build.target-dir, --release and --target are all honoured
# and no script assumes ./target.
#
# Sourced:  cargo_bin [cargo build options]   e.g. cargo_bin --release --bin ddb-lake --example floor
#           then "${BIN[ddb-lake]}", "${BIN[floor]}" are the paths (binaries and examples, by name).
# Run:      scripts/cargo-bin.sh [cargo build options]
#           prints the path of each binary or example built, one a line (for the Python tests).
# DDB_LAKE_FEATURES, when set, is passed as --features: scripts/test.sh sets it so that these
# builds are the ones its `cargo test` made, not a second build of the crate.

cargo_bin() {
  declare -gA BIN
  local messages line name path features=()
  [ -z "${DDB_LAKE_FEATURES:-}" ] || features=(--features "$DDB_LAKE_FEATURES")
  messages=$(cargo build --message-format=json-render-diagnostics "${features[@]}" "$@") || return
  while IFS= read -r line; do
    # Only artifacts with an executable, and only binaries and examples (not build scripts).
    case $line in
      *'"reason":"compiler-artifact"'*'"executable":"'*) ;;
      *) continue ;;
    esac
    case $line in
      *'"kind":["bin"]'* | *'"kind":["example"]'*) ;;
      *) continue ;;
    esac
    name=${line#*\"target\":\{}
    name=${name#*\"name\":\"}
    name=${name%%\"*}
    path=${line#*\"executable\":\"}
    path=${path%%\"*}
    case $path in
      *\\*) echo "cargo_bin: a path with JSON escapes is not supported: $path" >&2; return 1 ;;
    esac
    BIN[$name]=$path
  done <<<"$messages"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  cargo_bin "$@"
  for name in "${!BIN[@]}"; do
    printf '%s\n' "${BIN[$name]}"
  done
fi
