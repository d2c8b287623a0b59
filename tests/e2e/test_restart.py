"""A real service restarted mid cut-over keeps every account and workflow.

Step 1 of the cut-over (`dual` reading memory) can last weeks, and restarts are routine:
the service is stopped with SIGTERM and started again (`gunicorn wfplatform.wsgi:app` on a
temporary PostgreSQL database) and must serve what it served before. A `flask run`-style
start (the factory) replays an earlier process's journal before any request reaches it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests import databases
from tests.conftest import require_postgres
from tests.e2e.service import (
    ROOT,
    Service,
    create_schema,
    free_port,
    service_environment,
    start_service,
)
from tests.factories import make_user
from wfplatform.domain.codec import to_dict
from wfplatform.storage.journal import Change, SyncJournal

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery"


@pytest.fixture
def database_url() -> Iterator[str]:
    """A migrated temporary database."""
    require_postgres()
    with databases.temporary_postgres_database() as url:
        create_schema(url)
        yield url


def test_a_service_restarted_in_dual_reading_memory_keeps_every_account_and_workflow(
    database_url, tmp_path
):
    env = service_environment(database_url, tmp_path, "dual")  # step 1: reads from memory
    output = tmp_path / "service.log"
    service = start_service(env, output, threads=4)
    accounts = {}
    for n in range(3):
        email = f"restart{n}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        assert service.call("POST", "/api/auth/register", credentials)[0] == 201
        token = service.call("POST", "/api/auth/login", credentials)[1]["access_token"]
        workflows = {
            service.call("POST", "/api/workflows", {"name": f"Flow {n}.{i}"}, token)[1]["id"]
            for i in range(2)
        }
        accounts[email] = (token, workflows)

    assert "Traceback" not in service.stop()
    service = start_service(env, output, threads=4)  # the same database and journal

    for email, (old_token, workflows) in accounts.items():
        status, me, _ = service.call("GET", "/api/users/me", token=old_token)
        assert status == 200, me  # a token issued before the restart still works
        assert me["email"] == email
        credentials = {"email": email, "password": PASSWORD}
        status, login, _ = service.call("POST", "/api/auth/login", credentials)
        assert status == 200, login
        status, listed, _ = service.call("GET", "/api/workflows", token=login["access_token"])
        assert status == 200, listed
        assert {item["id"] for item in listed["items"]} == workflows
        for workflow_id in workflows:
            assert service.call("GET", f"/api/workflows/{workflow_id}", token=old_token)[0] == 200
    status, ready, _ = service.call("GET", "/health/ready")
    assert (status, ready["status"]) == (200, "ready")
    assert "Traceback" not in service.stop()


def test_flask_run_replays_an_earlier_journal_before_its_first_request(database_url, tmp_path):
    env = service_environment(database_url, tmp_path, "dual")
    journaled = make_user()  # acknowledged by a process that died before replaying it
    earlier = SyncJournal(env["WF_JOURNAL_PATH"])
    earlier.append([Change("users", journaled.id, to_dict(journaled))])
    earlier.close()
    port = free_port()
    command = [sys.executable, "-m", "flask", "--app", "wfplatform", "run", "--port", str(port)]
    output = tmp_path / "flask.log"
    with open(output, "ab") as stream:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stream, stderr=stream)
    service = Service(f"http://127.0.0.1:{port}", process, output)
    engine = sa.create_engine(database_url)
    try:
        deadline = time.monotonic() + 30
        with engine.connect() as connection:
            query = sa.text("SELECT email FROM users WHERE id = :id")
            while connection.execute(query, {"id": journaled.id}).scalar() is None:
                assert time.monotonic() < deadline, "the journal was not replayed at start-up"
                assert process.poll() is None, service.log()
                time.sleep(0.1)
                connection.rollback()
    finally:
        engine.dispose()
        assert "Traceback" not in service.stop()
