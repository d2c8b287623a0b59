#!/usr/bin/env bash
# Set up .venv if needed, migrate the database to head, then serve the app with gunicorn.
#
#   HOST, PORT       where to listen (default 127.0.0.1:8000)
#   WORKERS          worker processes (default: what `flask wf workers` says the stored
#                    modes allow: one per CPU once every repository is database-only)
#   THREADS          request threads of each worker process (default 8)
#   DATABASE_URL     the database (default: SQLite in the instance folder); postgresql://...
#                    works as is. WF_* settings: see wfplatform/config.py.
#   WF_ENCRYPTION_KEYS (or WF_ENCRYPTION_KEYS_FILE)  the key ring credentials are sealed
#                    with (default: a ring made once in instance/encryption-keys)
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

if [[ -z "${WF_ENCRYPTION_KEYS:-}" && -z "${WF_ENCRYPTION_KEYS_FILE:-}" ]]; then
    # The service refuses to start without a key ring (credentials are sealed with it):
    # this one-command start makes one once, and says where it is.
    export WF_ENCRYPTION_KEYS_FILE="instance/encryption-keys"
    if [[ ! -s "$WF_ENCRYPTION_KEYS_FILE" ]]; then
        mkdir -p instance
        (umask 077 && "$WF_VENV/bin/flask" --app wfplatform wf gen-key 2>/dev/null >"$WF_ENCRYPTION_KEYS_FILE")
    fi
    echo "==> WF_ENCRYPTION_KEYS is not set: credentials are sealed with the ring in $WF_ENCRYPTION_KEYS_FILE (back it up; see docs/OPERATIONS.md, \"The key ring\")" >&2
fi

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
