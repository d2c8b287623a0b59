#!/usr/bin/env python3
"""Backfill the records that exist only in memory into the database.

    export WF_TOKEN=$ADMIN   # or --token-file FILE (a --token on the command line shows in ps)
    .venv/bin/python scripts/migrate_data.py --url http://127.0.0.1:8000 --dry-run
    .venv/bin/python scripts/migrate_data.py --url ... --confirm
    .venv/bin/python scripts/migrate_data.py --url ... --rollback RUN_ID [--dry-run]
    DATABASE_URL=postgresql://... .venv/bin/python scripts/migrate_data.py \
        --source export.json --confirm

`--help` lists every option; the README's cut-over walkthrough shows it in use."""

from flask.cli import ScriptInfo

from wfplatform import create_app
from wfplatform.cli.backfill import migrate_data

if __name__ == "__main__":
    # The app is made only for an offline run (--source, --rollback without --url).
    migrate_data(obj=ScriptInfo(create_app=create_app, set_debug_flag=False))
