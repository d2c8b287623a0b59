"""The cut-over's control plane over HTTP: admins only, guarded, audited."""

from __future__ import annotations

import pytest

from tests.api.conftest import app_config, login, make_admin, register
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.bootstrap import get_storage
from wfplatform.repositories import NAMES


@pytest.fixture
def app(engine, database_url, tmp_path):
    """The cut-over starts where users start it: memory-only."""
    app = create_app(
        app_config(database_url, "memory-only", None, tmp_path),
        instance_path=str(tmp_path / "instance"),
    )
    yield app
    close_app(app)


@pytest.fixture
def admin(app, client):
    return make_admin(app, client)


def switch(client, admin, **body):
    return client.put("/admin/migration/mode", json=body, headers=admin)


ENDPOINTS = [
    ("get", "/admin/migration"),
    ("put", "/admin/migration/mode"),
    ("get", "/admin/migration/readiness"),
    ("get", "/admin/migration/history"),
    ("post", "/admin/migration/stats/reset"),
    ("post", "/admin/migration/sync"),
    ("post", "/admin/migration/verify"),
    ("post", "/admin/migration/load-memory"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_only_admins_reach_the_control_plane(client, auth, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401
    assert getattr(client, method)(path, json={}, headers=auth).status_code == 403


def test_the_overview_shows_every_repository(client, admin):
    body = client.get("/admin/migration", headers=admin).get_json()
    assert set(body["repositories"]) == set(NAMES)
    users = body["repositories"]["users"]
    assert (users["mode"], users["read_from"], users["journal"]) == ("memory-only", "memory", 0)
    assert users["stats"]["backends"]["memory"]["reads"] >= 1  # the admin's own login
    assert body["warnings"] == []


def test_a_switch_is_answered_with_the_new_state_recorded_and_audited(client, admin):
    response = switch(client, admin, mode="dual", reason="start the cut-over")
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"]["repositories"]["workflows"]["mode"] == "dual"
    (latest, *_) = client.get("/admin/migration/history", headers=admin).get_json()["items"]
    me = client.get("/api/users/me", headers=admin).get_json()
    assert (latest["actor"], latest["reason"]) == (me["email"], "start the cut-over")
    audit = client.get("/api/audit-logs?action=storage.mode_change", headers=admin).get_json()
    assert audit["total"] == 1


def test_a_refused_switch_says_why_and_what_to_run_first(client, admin):
    register(client)  # a user only in memory
    assert switch(client, admin, mode="dual", reason="cut-over").status_code == 200
    refused = switch(client, admin, mode="dual", read_from="database", reason="flip reads")
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "guard_refused"
    assert any("run the backfill first" in r for r in error["details"]["refused"]["users"])
    readiness = client.get("/admin/migration/readiness", headers=admin).get_json()
    step = readiness["repositories"]["users"]["steps"]["dual(read_from=database)"]
    assert step["safe"] is False and step["reasons"]


def test_a_switch_leaving_a_child_looking_for_its_parents_where_they_are_not_is_refused(
    client, admin
):
    # every repository to database-only (forced: the admin's audit entry is only in memory)
    reads_database = {"mode": "dual", "read_from": "database"}
    for step in ({"mode": "dual"}, reads_database, {"mode": "database-only"}):
        assert switch(client, admin, reason="cut-over", force=True, **step).status_code == 200
    back = {"mode": "dual", "read_from": "database", "repositories": ["api_keys"], "reason": "x"}
    refused = switch(client, admin, **back)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["refused"] == {
        "api_keys": [
            "api_keys (dual(read_from=database)) would look for its users in memory (when it "
            "falls back), which users (database-only) does not write to: switch them together, "
            "or switch fallback off first"
        ]
    }
    forced = switch(client, admin, force=True, **back)
    assert forced.status_code == 200 and forced.get_json()["forced"] is True


def test_a_dry_run_switches_nothing(client, admin):
    result = switch(client, admin, mode="dual", reason="what if", dry_run=True)
    assert result.status_code == 200 and result.get_json()["dry_run"] is True
    overview = client.get("/admin/migration", headers=admin).get_json()
    assert overview["repositories"]["users"]["mode"] == "memory-only"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "triple", "reason": "x"},
        {"mode": "dual"},
        {"mode": "dual", "reason": "x", "repositories": ["nope"]},
        {"mode": "dual", "reason": "x", "shadow_rate": 3},
    ],
)
def test_bad_switch_requests_are_422(client, admin, body):
    response = switch(client, admin, **body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_verify_sync_and_stats_reset(client, admin):
    register(client)
    switch(client, admin, mode="dual", reason="cut-over")
    report = client.post("/admin/migration/verify", json={}, headers=admin).get_json()
    # the user registered in memory-only; the admin (made from the CLI) is in both
    assert report["repositories"]["users"]["counts"]["only_in_memory"] == 1
    assert len(report["repositories"]["users"]["only_in_memory"]) == 1
    synced = client.post("/admin/migration/sync", headers=admin).get_json()
    assert synced == {"replayed": 0, "pending": 0, "error": None}
    reset = client.post("/admin/migration/stats/reset", json={}, headers=admin).get_json()
    assert reset["repositories"]["users"]["stats"]["backends"]["memory"]["reads"] <= 1


def test_readiness_probe_reports_ready_in_memory_only(client):
    body = client.get("/health/ready").get_json()
    assert body["status"] == "ready"
    assert body["repositories"]["users"] == {
        "mode": "memory-only",
        "usable": True,
        "serving_from": "memory",
        "behind": False,
    }


def test_readiness_probe_reports_degraded_while_serving_from_the_fallback(client, admin, app):
    from wfplatform.bootstrap import get_storage

    switch(client, admin, mode="dual", reason="cut-over")
    switch(client, admin, mode="dual", read_from="database", reason="flip", force=True)
    storage = get_storage(app)
    storage.parts.journal.append([])  # a write waiting for the database
    body = client.get("/health/ready")
    assert body.status_code == 200
    assert body.get_json()["status"] == "degraded"
    storage.replay_journal()
    assert client.get("/health/ready").get_json()["status"] == "ready"


def test_two_processes_in_memory_modes_are_warned_about(client, admin, app, engine, tmp_path):
    from tests.conftest import build_storage
    from wfplatform.bootstrap import get_storage

    get_storage(app).parts.processes.beat()
    other = build_storage(engine, tmp_path / "other.log", "memory-only")
    try:
        other.parts.processes.beat({"journal": 3, "recent": {}})
        body = client.get("/admin/migration", headers=admin).get_json()
        assert len(body["processes"]) == 2
        assert "2 processes use this database" in body["warnings"][0]
        journals = {p["this_process"]: p["journal"] for p in body["processes"]}
        assert journals[False] == 3  # what the other process last said
    finally:
        other.close()
    assert client.get("/admin/migration", headers=admin).get_json()["warnings"] == []


def test_logins_still_work_for_the_admin_created_in_memory_only(client, admin):
    assert client.get("/api/users/me", headers=admin).get_json()["role"] == "admin"
    login(client, register(client)["email"])


def test_loading_memory_lets_reads_move_back_to_memory(client, admin, app):
    from tests.sync import mirror_memory_to_database

    assert switch(client, admin, mode="dual", reason="cut-over").status_code == 200
    mirror_memory_to_database(app.extensions["wf_storage"])  # the backfill
    assert switch(client, admin, mode="dual", read_from="database", reason="r").status_code == 200
    assert switch(client, admin, mode="database-only", reason="done").status_code == 200
    register(client)  # only in the database now
    assert (
        switch(client, admin, mode="dual", read_from="database", reason="back").status_code == 200
    )
    refused = switch(client, admin, mode="dual", read_from="memory", reason="back")
    assert refused.status_code == 409
    loaded = client.post("/admin/migration/load-memory", json={}, headers=admin).get_json()
    assert loaded["changed"]["users"] >= 1
    assert switch(client, admin, mode="dual", read_from="memory", reason="back").status_code == 200


@pytest.mark.parametrize(
    "app", [("memory-only", None), ("dual", "memory")], ids=["memory-only", "dual"], indirect=True
)
def test_loading_memory_is_refused_while_memory_holds_records_the_database_may_lack(client, admin):
    """Memory is the primary copy there: making it equal to the database would delete
    every record not backfilled yet (accounts registered meanwhile, say)."""
    user = register(client)
    refused = client.post("/admin/migration/load-memory", json={}, headers=admin)

    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "guard_refused"
    assert "users" in refused.get_json()["error"]["details"]["refused"]
    login(client, user["email"])  # still there


class ProcessDied(Exception):
    """Stands for the process stopping at this point (killed, out of memory, ...)."""


def test_a_switch_keeps_its_audit_entry_when_the_process_dies_right_after_it(
    client, admin, app, monkeypatch
):
    """The switch is stored with its audit entry waiting beside it, in one transaction:
    a fault before the entry reaches the audit log delays it, never loses it."""
    storage = get_storage(app)

    def dies(work):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(storage, "atomic", dies)  # the audit log's write, after the switch
        with pytest.raises(ProcessDied):
            switch(client, admin, mode="dual", reason="start the cut-over")

    assert storage.parts.modes.get("users").label() == "dual(read_from=memory)"
    (latest, *_) = client.get("/admin/migration/history", headers=admin).get_json()["items"]
    assert latest["reason"] == "start the cut-over"
    audit = client.get("/api/audit-logs?action=storage.mode_change", headers=admin).get_json()
    assert audit["total"] == 1
    me = client.get("/api/users/me", headers=admin).get_json()
    assert audit["items"][0]["actor_id"] == me["id"]
    assert audit["items"][0]["changes"]["modes"]["users"]["mode"] == "dual"


def test_an_audit_entry_delivered_twice_is_in_the_log_once(client, admin, app, monkeypatch):
    """The process stops after the entry reached the audit log, read from the database,
    but before the outbox let it go (an entry leaves it only then): the next delivery finds
    it there and writes nothing."""
    from tests.sync import mirror_memory_to_database
    from wfplatform.storage.audit_outbox import AuditOutbox

    def dies(self, entry_id):
        raise ProcessDied

    assert switch(client, admin, mode="dual", reason="start the cut-over").status_code == 200
    mirror_memory_to_database(get_storage(app))  # the backfill
    with monkeypatch.context() as patched:
        patched.setattr(AuditOutbox, "forget", dies)
        with pytest.raises(ProcessDied):
            switch(client, admin, mode="dual", read_from="database", reason="reads move")

    audit = client.get("/api/audit-logs?action=storage.mode_change", headers=admin).get_json()
    assert audit["total"] == 2
    again = client.get("/api/audit-logs?action=storage.mode_change", headers=admin).get_json()
    assert again["items"] == audit["items"]
