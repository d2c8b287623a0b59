"""A real service restarted mid cut-over keeps every account and workflow.

Step 1 of the cut-over (`dual` reading memory) can last weeks, and restarts are routine:
the service is stopped with SIGTERM and started again (`gunicorn wfplatform.wsgi:app` on a
temporary PostgreSQL database) and must serve what it served before. A `flask run`-style
start (the factory) replays an earlier process's journal before any request reaches it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import databases
from tests.conftest import require_postgres
from tests.e2e.test_workers import ROOT, call, free_port
from tests.factories import make_user
from wfplatform.domain.codec import to_dict
from wfplatform.storage.journal import Change, SyncJournal

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"


class Service:
    """One service process on a database; `start()` again after `stop()` is a restart."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command, self.env = command, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if call(self.base, "GET", "/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None, self.output()
            time.sleep(0.2)
        pytest.fail("the service did not become ready")

    def stop(self) -> str:
        """SIGTERM, as service managers stop it; returns what it wrote."""
        self.process.send_signal(signal.SIGTERM)
        output = self.output()
        assert "Traceback" not in output, output
        return output

    def output(self) -> str:
        try:
            return self.process.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()[0].decode(errors="replace")


@pytest.fixture
def database() -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated temporary database, and the environment of a service on it."""
    require_postgres()
    with databases.temporary_postgres_database() as url:
        yield (
            url,
            {
                **os.environ,
                "DATABASE_URL": url,
                "WF_STORAGE_MODE": "dual",  # step 1: reads from memory
                "WF_SECRET_KEY": "e2e signing key kept across restarts",
                "WF_PASSWORD_TIME_COST": "1",
                "WF_PASSWORD_MEMORY_KIB": "1024",
            },
        )


def migrate(env: dict[str, str]) -> None:
    flask = [sys.executable, "-m", "flask", "--app", "wfplatform", "db", "upgrade"]
    subprocess.run(flask, cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)


def gunicorn(env: dict[str, str], journal: Path) -> Service:
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
        "--no-control-socket", "--bind", "127.0.0.1:{port}", "wfplatform.wsgi:app",
    ]  # fmt: skip
    return Service(command, {**env, "WF_JOURNAL_PATH": str(journal)})


def test_a_service_restarted_in_dual_reading_memory_keeps_every_account_and_workflow(
    database, tmp_path
):
    _, env = database
    migrate(env)
    service = gunicorn(env, tmp_path / "sync-journal.log")
    service.start()
    service.wait_ready()
    accounts = {}
    for n in range(3):
        email = f"restart{n}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        assert call(service.base, "POST", "/api/auth/register", credentials)[0] == 201
        token = call(service.base, "POST", "/api/auth/login", credentials)[1]["access_token"]
        workflows = {
            call(service.base, "POST", "/api/workflows", {"name": f"Flow {n}.{i}"}, token)[1]["id"]
            for i in range(2)
        }
        accounts[email] = (token, workflows)

    service.stop()
    service.start()  # the same command, the same database and journal
    service.wait_ready()

    for email, (old_token, workflows) in accounts.items():
        status, me = call(service.base, "GET", "/api/users/me", token=old_token)
        assert status == 200, me  # a token issued before the restart still works
        assert me["email"] == email
        status, login = call(
            service.base, "POST", "/api/auth/login", {"email": email, "password": PASSWORD}
        )
        assert status == 200, login
        status, listed = call(service.base, "GET", "/api/workflows", token=login["access_token"])
        assert status == 200, listed
        assert {item["id"] for item in listed["items"]} == workflows
        for workflow_id in workflows:
            assert (
                call(service.base, "GET", f"/api/workflows/{workflow_id}", token=old_token)[0]
                == 200
            )
    status, ready = call(service.base, "GET", "/health/ready")
    assert (status, ready["status"]) == (200, "ready")
    service.stop()


def test_flask_run_replays_an_earlier_journal_before_its_first_request(database, tmp_path):
    url, env = database
    migrate(env)  # CLI commands do not start storage: the schema does not exist before this
    journal = tmp_path / "sync-journal.log"
    journaled = make_user()  # acknowledged by a process that died before replaying it
    earlier = SyncJournal(journal)
    earlier.append([Change("users", journaled.id, to_dict(journaled))])
    earlier.close()
    command = [sys.executable, "-m", "flask", "--app", "wfplatform", "run", "--port", "{port}"]
    service = Service(command, {**env, "WF_JOURNAL_PATH": str(journal)})
    engine = sa.create_engine(url)

    service.start()
    try:
        deadline = time.monotonic() + 30
        with engine.connect() as connection:
            query = sa.text("SELECT email FROM users WHERE id = :id")
            while connection.execute(query, {"id": journaled.id}).scalar() is None:
                assert time.monotonic() < deadline, "the journal was not replayed at start-up"
                assert service.process.poll() is None, service.output()
                time.sleep(0.1)
                connection.rollback()
    finally:
        engine.dispose()
        service.stop()
