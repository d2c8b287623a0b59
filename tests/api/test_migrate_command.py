"""The migrate-data command against a running service (real HTTP) and offline from an
export file: reports, exit codes and refusals."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from tests.api.conftest import make_admin, register
from tests.api.test_cutover_api import app  # noqa: F401 (starts in memory-only)
from wfplatform.cli.backfill import migrate_data


@pytest.fixture
def service(app, client):  # noqa: F811
    """The app behind a real HTTP server, and an admin's token."""
    admin = make_admin(app, client)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() waits for the loop's next poll: every 0.05s, not the default 0.5s
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
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

    preview = run("--url", url, "--token", token, "--rollback", latest["id"], "--dry-run")
    assert preview.exit_code == 0 and "would undo 2 users" in preview.output
    undone = run("--url", url, "--token", token, "--rollback", latest["id"], "--json")
    assert undone.exit_code == 0, undone.output
    assert json.loads(undone.stdout)["dry_run"] is False
    assert json.loads(undone.stdout)["undone"]["users"] == 2
    verify = client.post("/admin/migration/verify", json={}, headers=admin).get_json()
    assert verify["repositories"]["users"]["counts"]["only_in_memory"] == 2


def test_a_dry_run_with_conflicts_exits_2(service, client, app):  # noqa: F811
    url, token = service
    admin = {"Authorization": f"Bearer {token}"}
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)
    storage = app.extensions["wf_storage"]
    from tests.factories import make_user

    storage.replicator.copy_to_database("users", make_user(email="dup@example.com"))
    storage.in_memory("users").upsert(make_user(email="DUP@example.com"))
    result = run("--url", url, "--token", token)
    assert result.exit_code == 2
    assert "conflict" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "choose --url"),
        (("--url", "http://x", "--source", __file__), "choose one of --url"),
        (("--source", __file__, "--dry-run", "--confirm"), "exclude each other"),
        (("--source", __file__, "--resume", "r", "--dry-run"), "cannot be a --dry-run"),
        (("--source", __file__, "--force"), "--rollback only"),
        (("--source", __file__, "--batch-size", "0"), "--batch-size"),
        (("--source", __file__, "--bogus"), "No such option"),
    ],
)
def test_usage_errors_exit_1_not_2_which_means_conflicts_found(args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_an_unreachable_service_is_an_error_not_a_traceback():
    for url in ("http://127.0.0.1:9", "notaurl"):
        result = run("--url", url, "--token", "t")
        assert result.exit_code == 1
        assert "did not answer" in result.output


def test_a_source_that_is_not_an_export_is_an_error_not_a_traceback(app, tmp_path):  # noqa: F811
    bad = tmp_path / "cut.json"
    bad.write_text('{"format": "wfplatform.export", "format_version": 1, "expo')
    with app.app_context():
        result = run("--source", str(bad))
    assert result.exit_code == 1
    assert "error:" in result.output


def test_an_offline_dry_run_finds_a_unique_value_twice_in_the_file(app, tmp_path):  # noqa: F811
    """Live memory never holds two users with one email; an export file can."""
    from tests.factories import make_user
    from wfplatform.domain.codec import to_dict

    users = [to_dict(make_user(email=email)) for email in ("twice@example.com", "TWICE@x.org")]
    users[1]["email"] = "TWICE@example.com"  # the same address in another case
    document = {
        "format": "wfplatform.export", "format_version": 1,
        "exported_at": "2026-01-01T00:00:00+00:00", "schema_revision": None,
        "repositories": {"users": sorted(users, key=lambda user: user["id"])},
    }  # fmt: skip
    source = tmp_path / "twice.json"
    source.write_text(json.dumps(document))
    with app.app_context():
        result = run("--source", str(source), "--json")

    assert result.exit_code == 2, result.output
    counts = json.loads(result.stdout)["repositories"]["users"]
    assert (counts["insert"], counts["conflict"]) == (1, 1)
