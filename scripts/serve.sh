#!/usr/bin/env bash
# Set up .venv if needed, migrate the database to head, then serve the app with gunicorn.
#
#   HOST, PORT       where to listen (default 127.0.0.1:8000)
#   WORKERS          worker processes (default: what `flask wf workers` says the stored
#                    modes allow: one per CPU once every repository is database-only)
#   THREADS          request threads of each worker process (default 8)
#   DATABASE_URL     the database (default: SQLite in the instance folder); postgresql://...
#                    works as is. WF_* settings: see wfplatform/config.py.
#   extra arguments  go to gunicorn, e.g. scripts/serve.sh --log-level debug
#
# One worker process while any storage mode keeps records in process memory (several
# workers would each hold different data). After a walk back to such a mode, restart this
# script: /admin/migration and the log warn while several processes serve (see
# docs/ARCHITECTURE.md, "One process or many").
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

WORKERS="${WORKERS:-$("$WF_VENV/bin/flask" --app wfplatform wf workers)}"

echo "==> serving on http://$HOST:$PORT with $WORKERS worker(s)" >&2
exec "$WF_VENV/bin/gunicorn" \
    --bind "$HOST:$PORT" \
    --workers "$WORKERS" \
    --threads "$THREADS" \
    --access-logfile - \
    --no-control-socket \
    "$@" \
    "wfplatform.wsgi:app"
