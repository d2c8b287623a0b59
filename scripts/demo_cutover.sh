#!/usr/bin/env bash
# The README's cut-over walkthrough, unattended, on the embedded SQLite default: seed demo
# data in memory-only, switch to dual, dry-run, confirm, verify, switch reads, go
# database-only, and walk one step back. Fails loudly when a step does not do what the
# README says. Leaves nothing behind (a temporary instance folder, a server it stops).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
wf_ensure_venv runtime
PY="$WF_VENV/bin/python"

WORK="$(mktemp -d)"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
export DATABASE_URL="sqlite:///$WORK/demo.sqlite3" WF_JOURNAL_PATH="$WORK/journal.log"
export WF_SECRET_KEY="demo signing key" WF_STORAGE_MODE="memory-only"
WF_ENCRYPTION_KEYS="$("$WF_VENV/bin/flask" --app wfplatform wf gen-key --id demo 2>/dev/null)"
export WF_ENCRYPTION_KEYS
export WF_ADMIN_EMAIL="admin@example.com" WF_ADMIN_PASSWORD="admin password"
SERVER=""

cleanup() {
    [[ -n "$SERVER" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "DEMO FAILED: $*" >&2; exit 1; }
step() { echo; echo "==> $*"; }
# json EXPR: evaluate a Python expression on the JSON read from stdin (bound to `d`).
json() { "$PY" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
api() {  # api METHOD PATH [BODY], as $TOKEN when it is set
    local auth=()
    [[ -n "${TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $TOKEN")
    curl -sS -X "$1" "$BASE$2" "${auth[@]}" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
expect() {  # expect DESCRIPTION ACTUAL WANTED
    [[ "$2" == "$3" ]] || fail "$1: got '$2', wanted '$3'"
    echo "    ok: $1 = $3"
}

step "start the service in memory-only (scripts/serve.sh)"
PORT="$PORT" scripts/serve.sh >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
    curl -fs "$BASE/health" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fs "$BASE/health" >/dev/null || { cat "$WORK/server.log"; fail "the service did not start"; }
TOKEN="$(api POST /api/auth/login '{"email": "admin@example.com", "password": "admin password"}' |
    json 'd["access_token"]')"

step "seed demo data: 3 users with 2 workflows each, all in memory"
for n in 1 2 3; do
    email="demo$n@example.com"
    api POST /api/auth/register "{\"email\": \"$email\", \"password\": \"demo password\"}" >/dev/null
    user_token="$(api POST /api/auth/login "{\"email\": \"$email\", \"password\": \"demo password\"}" |
        json 'd["access_token"]')"
    for w in 1 2; do
        TOKEN="$user_token" api POST /api/workflows \
            "{\"name\": \"Demo $n.$w\", \"nodes\": [{\"id\": \"a\", \"type\": \"webhook\"}]}" >/dev/null
    done
done
# (the admin from WF_ADMIN_EMAIL is written to the database too: it works in every mode)
expect "users only in memory" "$(api GET /admin/migration/readiness |
    json 'd["repositories"]["users"]["only_in_memory"]')" "3"

step "switch to dual (reads stay on memory; every new write lands in both)"
expect "mode" "$(api PUT /admin/migration/mode '{"mode": "dual", "reason": "start the cut-over"}' |
    json 'd["modes"]["users"]["mode"]')" "dual"

step "reads cannot move to the database yet: the guard says why"
expect "refused" "$(api PUT /admin/migration/mode \
    '{"mode": "dual", "read_from": "database", "reason": "too early"}' |
    json 'd["error"]["code"]')" "guard_refused"

step "dry-run the backfill"
WF_TOKEN="$TOKEN" "$PY" scripts/migrate_data.py --url "$BASE" --dry-run \
    || fail "the dry-run found problems"

step "confirm the backfill"
WF_TOKEN="$TOKEN" "$PY" scripts/migrate_data.py --url "$BASE" --confirm \
    || fail "the backfill did not complete"

step "verify: both backends hold the same records"
expect "differences" "$(api POST /admin/migration/verify '{}' | json 'd["differences"]')" "0"

step "switch reads to the database, then go database-only"
expect "read_from" "$(api PUT /admin/migration/mode \
    '{"mode": "dual", "read_from": "database", "reason": "flip reads"}' |
    json 'd["modes"]["users"]["read_from"]')" "database"
expect "mode" "$(api PUT /admin/migration/mode '{"mode": "database-only", "reason": "done"}' |
    json 'd["modes"]["workflows"]["mode"]')" "database-only"
expect "workflows still listed" "$(TOKEN="$(api POST /api/auth/login \
    '{"email": "demo1@example.com", "password": "demo password"}' | json 'd["access_token"]')" \
    api GET /api/workflows | json 'd["total"]')" "2"

step "walk one step back: database-only -> dual reading the database"
expect "mode" "$(api PUT /admin/migration/mode \
    '{"mode": "dual", "read_from": "database", "reason": "walk back one step"}' |
    json 'd["modes"]["users"]["mode"]')" "dual"
expect "history" "$(api GET /admin/migration/history | json 'd["items"][0]["reason"]')" \
    "walk back one step"

echo
echo "The cut-over walkthrough did what the README says."
