"""The migrate-data command against a running service (real HTTP) and offline from an
export file: reports, exit codes and refusals."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from tests.api.conftest import make_admin, register
from tests.api.test_admin_migration import app  # noqa: F401 (starts in memory-only)
from wfplatform.migration.command import migrate_data


@pytest.fixture
def service(app, client):  # noqa: F811
    """The app behind a real HTTP server, and an admin's token."""
    admin = make_admin(app, client)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", admin["Authorization"].split()[1]
    server.shutdown()
    thread.join(5)


def run(*args: str):
    return CliRunner().invoke(migrate_data, list(args), catch_exceptions=False)


def test_a_backfill_outside_dual_is_refused_with_exit_code_3(service):
    url, token = service
    result = run("--url", url, "--token", token, "--confirm")
    assert result.exit_code == 3
    assert "switch it to dual first" in result.output


def test_dry_run_confirm_and_rollback_against_a_running_service(service, client):
    url, token = service
    admin = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        register(client)
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)

    dry = run("--url", url, "--token", token, "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["repositories"]["users"]["insert"] == 2

    confirmed = run("--url", url, "--token", token, "--confirm", "--batch-size", "1")
    assert confirmed.exit_code == 0, confirmed.output
    assert "completed" in confirmed.output and "users" in confirmed.output
    (latest, *_) = client.get("/admin/migrations", headers=admin).get_json()["items"]

    undone = run("--url", url, "--token", token, "--rollback", latest["id"], "--json")
    assert undone.exit_code == 0, undone.output
    assert json.loads(undone.stdout)["undone"]["users"] == 2


def test_a_dry_run_with_conflicts_exits_2(service, client, app):  # noqa: F811
    url, token = service
    admin = {"Authorization": f"Bearer {token}"}
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)
    storage = app.extensions["wf_storage"]
    from tests.factories import make_user

    storage.replicator.copy_to_database("users", make_user(email="dup@example.com"))
    storage.memory_repository("users").upsert(make_user(email="DUP@example.com"))
    result = run("--url", url, "--token", token)
    assert result.exit_code == 2
    assert "conflict" in result.output


def test_a_source_or_a_url_is_required():
    assert run().exit_code == 2  # click's usage error
    assert "choose --url" in run().output
