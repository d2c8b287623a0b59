#!/usr/bin/env bash
# Set up .venv if needed, lint, then run the tests; arguments go to pytest:
#   scripts/test.sh                                  # everything
#   scripts/test.sh tests/integration/test_migrations.py -q
# PostgreSQL tests skip when no server answers, unless CI=true (then they fail).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
wf_ensure_venv dev

echo "==> ruff check" >&2
"$WF_VENV/bin/ruff" check .
echo "==> ruff format --check" >&2
"$WF_VENV/bin/ruff" format --check .

echo "==> pytest $*" >&2
# exec: pytest's exit status is the script's (5, no tests collected, is a failure too).
exec "$WF_VENV/bin/python" -m pytest "$@"
