#!/usr/bin/env bash
# Builds one of the crate's Lambdas for the provided.al2023 runtime, release profile, zipped as
# target/lambda/<bin>.zip (the path the templates' CodeUri points at); the executable inside is
# always named `bootstrap`, as provided.al2023 expects. The architecture goes to
# target/lambda/<bin>.arch so that scripts/deploy.sh can pass the matching LambdaArchitecture.
#   bootstrap        the transformation Lambda (the default)
#   table-attach     the table attachment (custom resource of the single-account and producer stacks)
#   schema-keeper    the schema keeper (single-account and consumer stacks)
#   backfill-lambda  the backfill Lambda (cloudformation/backfill.yaml)
#
#   scripts/build-lambda.sh                # bootstrap, arm64 (Graviton), the default
#   scripts/build-lambda.sh --arch x86_64
#   scripts/build-lambda.sh --bin schema-keeper
#
# Cross-compiles with the GNU toolchain: `rustup target add` for the target and, for arm64 on an
# x86_64 machine, Debian/Ubuntu's gcc-aarch64-linux-gnu as linker (installed with apt-get when
# missing). provided.al2023 ships glibc 2.34, so the binary is refused if it needs a newer one.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
arch="${ARCH:-arm64}"
bin=bootstrap
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        --arch=*) arch="${1#*=}"; shift ;;
        --bin) bin="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done
# Checked before any toolchain work: the crate's Lambda binaries (Cargo.toml [[bin]]).
case "$bin" in
    bootstrap|table-attach|schema-keeper|backfill-lambda) ;;
    *) echo "--bin must be bootstrap, table-attach, schema-keeper or backfill-lambda, not $bin" >&2; exit 64 ;;
esac

case "$arch" in
    arm64|aarch64) arch=arm64; triple=aarch64-unknown-linux-gnu; linker=aarch64-linux-gnu-gcc; gcc_pkg=gcc-aarch64-linux-gnu ;;
    x86_64|amd64) arch=x86_64; triple=x86_64-unknown-linux-gnu; linker=x86_64-linux-gnu-gcc; gcc_pkg=gcc-x86-64-linux-gnu ;;
    *) echo "--arch must be arm64 or x86_64, not $arch" >&2; exit 64 ;;
esac
AL2023_GLIBC=2.34

need() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif need sudo; then sudo "$@"; else return 1; fi; }

{ need cargo && need rustup; } || { echo "Rust is needed: https://rustup.rs" >&2; exit 69; }
if ! rustup target list --installed | grep -qx "$triple"; then
    echo "adding Rust target $triple"
    rustup target add "$triple"
fi

host="$(uname -m)"
if { [ "$arch" = arm64 ] && [ "$host" != aarch64 ]; } || { [ "$arch" = x86_64 ] && [ "$host" != x86_64 ]; }; then
    if ! need "$linker"; then
        echo "installing the cross linker ($gcc_pkg)"
        if need apt-get; then
            if ! { as_root apt-get update -qq && as_root apt-get install -y -qq "$gcc_pkg" >/dev/null; }; then
                echo "could not install $gcc_pkg (needs root or sudo)" >&2; exit 69
            fi
        else
            echo "no $linker here: install a $triple cross gcc, or use 'pip install cargo-lambda' and" >&2
            echo "'cargo lambda build --release --${arch/x86_64/x86-64} --bin bootstrap'" >&2
            exit 69
        fi
    fi
    export "CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER=$linker"
fi

echo "building $bin for $arch ($triple)"
# shellcheck source=scripts/cargo-bin.sh
source scripts/cargo-bin.sh
cargo_bin --release --locked --bin "$bin" --target "$triple"
binary=${BIN[$bin]}

# provided.al2023 has glibc 2.34: a binary asking for a newer symbol version would not start.
needed=$(readelf --dyn-syms --wide "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
if [ -n "$needed" ] && [ "$(printf '%s\n%s\n' "$needed" "$AL2023_GLIBC" | sort -V | tail -n1)" != "$AL2023_GLIBC" ]; then
    echo "$bin needs glibc $needed but provided.al2023 has $AL2023_GLIBC: build on an older distribution" >&2
    exit 70
fi

out=target/lambda
mkdir -p "$out"
rm -f "$out/$bin.zip"
# Python's zipfile keeps the file mode, so `bootstrap` stays executable inside the zip.
"${PYTHON:-python3}" - "$binary" "$out/$bin.zip" <<'EOF'
import os, sys, zipfile
binary, archive = sys.argv[1:]
os.chmod(binary, 0o755)
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(binary, "bootstrap")
EOF
echo "$arch" > "$out/$bin.arch"
echo "wrote $out/$bin.zip ($arch, $(du -h "$out/$bin.zip" | cut -f1), needs glibc ${needed:-none} <= $AL2023_GLIBC)"
