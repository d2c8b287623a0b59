"""An offline backfill killed mid-run resumes and ends as an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import databases
from tests.conftest import build_storage, require_postgres
from tests.factories import make_user, make_workflow
from wfplatform.backup.export import write_export
from wfplatform.extensions import db, head_revision

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
DATA_TABLES = ("users", "workflows")


def make_export(path: Path, tmp_path: Path) -> None:
    """An export of 300 users with a workflow each, made in memory-only on a scratch DB."""
    with databases.temporary_postgres_database() as url:
        engine = databases.create_engine(url)
        db.metadata.create_all(engine)
        storage = build_storage(engine, tmp_path / "scratch.log", "memory-only")
        for _ in range(300):
            user = storage.users.add(make_user())
            storage.workflows.add(make_workflow(user))
        with open(path, "w", encoding="utf-8") as stream:
            write_export(storage, stream, head_revision())
        storage.close()
        engine.dispose()


def migrate(url: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "WF_JOURNAL_PATH": str(tmp_path / "cli.log")}
    command = [sys.executable, "scripts/migrate_data.py", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


def fresh_database(stack):
    url = stack.enter_context(databases.temporary_postgres_database())
    engine = databases.create_engine(url)
    db.metadata.create_all(engine)
    databases.stamp_head(engine)
    return url, engine


def rows(engine) -> dict:
    with engine.connect() as connection:
        return {
            table: sorted(tuple(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")))
            for table in DATA_TABLES
        }


def test_a_killed_offline_run_resumes_to_the_same_end_state(tmp_path):
    from contextlib import ExitStack

    require_postgres()
    export = tmp_path / "export.json"
    make_export(export, tmp_path)
    with ExitStack() as stack:
        url, engine = fresh_database(stack)
        run = migrate(url, tmp_path, "--source", str(export), "--confirm", "--batch-size", "10")
        deadline = time.monotonic() + 60
        with engine.connect() as connection:
            while time.monotonic() < deadline:
                written = connection.scalar(sa.text("SELECT count(*) FROM migration_ledger"))
                if written >= 50:
                    break
                time.sleep(0.05)
        run.send_signal(signal.SIGKILL)
        finish(run)
        with engine.connect() as connection:
            run_id, state = connection.execute(
                sa.text("SELECT id, state FROM migration_runs")
            ).one()
            partial = connection.scalar(sa.text("SELECT count(*) FROM workflows"))
        assert state == "running" and partial < 300  # killed mid-run

        resumed = migrate(url, tmp_path, "--source", str(export), "--confirm", "--resume", run_id)
        code, output = finish(resumed)
        assert code == 0, output

        other_url, other_engine = fresh_database(stack)
        uninterrupted = migrate(other_url, tmp_path, "--source", str(export), "--confirm")
        code, output = finish(uninterrupted)
        assert code == 0, output
        assert rows(engine) == rows(other_engine)
        with engine.connect() as connection:
            state, counts = connection.execute(
                sa.text("SELECT state, counts FROM migration_runs")
            ).one()
            total = {table: len(rows(engine)[table]) for table in ("users", "workflows")}
        assert state == "completed"
        assert {name: counts["written"][name] for name in total} == total  # both parts counted
        engine.dispose()
        other_engine.dispose()
