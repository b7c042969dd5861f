# Sourced by the project's scripts: makes sure a virtualenv with the given requirements file
# (default requirements-dev.txt; the demo uses the small requirements-demo.txt) exists, and
# exports PYTHON (its interpreter) and PATH (its tools first). The virtualenv lives outside the
# clone, keyed by the requirements' hash, so a fresh clone on the same machine reuses it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/${1:-requirements-dev.txt}"
key=$(cat "$requirements" "$root"/requirements-*.txt | sha256sum | cut -c1-12)
venv="${DDB_LAKE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ddb-lake/venv-$(basename "$requirements" .txt)-$key}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "Setting up Python tools in $venv (first run only)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  (cd "$root" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements") >&2
  touch "$venv/.complete"
fi
export PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"
