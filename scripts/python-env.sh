# Sourced by the project's scripts: makes sure a virtualenv with requirements-dev.txt exists and
# exports PYTHON (its interpreter) and PATH (its tools first). The virtualenv lives outside the
# clone, keyed by the requirements' hash, so a fresh clone on the same machine reuses it.
requirements="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/requirements-dev.txt"
key=$(sha256sum "$requirements" | cut -c1-12)
venv="${DDB_LAKE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ddb-lake/venv-$key}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "Setting up Python tools in $venv (first run only)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
export PYTHON="$venv/bin/python"
export PATH="$venv/bin:$PATH"
