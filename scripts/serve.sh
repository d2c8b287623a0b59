#!/usr/bin/env bash
# Set up .venv if needed, migrate the database to head, then serve the app with gunicorn.
#
#   HOST, PORT       where to listen (default 127.0.0.1:8000)
#   THREADS          request threads of the single worker process (default 8)
#   DATABASE_URL     the database (default: SQLite in the instance folder); postgresql://...
#                    works as is. WF_* settings: see wfplatform/config.py.
#   extra arguments  go to gunicorn, e.g. scripts/serve.sh --log-level debug
#
# One worker process on purpose: storage modes that keep records in memory keep them in
# the process, so several workers would each hold different data.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
wf_ensure_venv runtime

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
THREADS="${THREADS:-8}"

echo "==> flask db upgrade" >&2
"$WF_VENV/bin/flask" --app wfplatform db upgrade

echo "==> serving on http://$HOST:$PORT" >&2
exec "$WF_VENV/bin/gunicorn" \
    --bind "$HOST:$PORT" \
    --workers 1 \
    --threads "$THREADS" \
    --access-logfile - \
    --no-control-socket \
    "$@" \
    "wfplatform.wsgi:app"
