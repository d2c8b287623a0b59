"""The backfill over HTTP: start it as a background job, follow it, roll it back."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.api.conftest import make_admin, register
from tests.api.test_cutover_api import app  # noqa: F401 (starts in memory-only)
from wfplatform.backends.sql import new_session


@pytest.fixture
def admin(app, client):  # noqa: F811
    return make_admin(app, client)


def follow(client, admin, location: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(location, headers=admin).get_json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    pytest.fail("the migration job did not finish")


def start(client, admin, **body):
    return client.post("/admin/migrations", json=body, headers=admin)


def test_a_backfill_needs_dual_mode(client, admin):
    refused = start(client, admin, dry_run=False)
    assert refused.status_code == 409
    assert "switch it to dual first" in str(refused.get_json()["error"]["details"])


def test_dry_run_then_confirm_then_rollback(client, admin, app):  # noqa: F811
    for _ in range(3):
        register(client)
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)

    dry = start(client, admin)  # dry_run is the default
    assert dry.status_code == 202
    report = follow(client, admin, dry.headers["Location"])
    assert report["state"] == "completed", report["error"]
    assert report["result"]["repositories"]["users"]["insert"] == 3
    assert report["progress"]["done"] == report["progress"]["total"]

    confirmed = start(client, admin, dry_run=False, batch_size=2)
    job = follow(client, admin, confirmed.headers["Location"])
    assert job["result"]["run"]["state"] == "completed"
    run_id = job["id"]
    verify = client.post("/admin/migration/verify", json={}, headers=admin).get_json()
    assert verify["differences"] == 0
    listed = client.get("/admin/migrations", headers=admin).get_json()
    assert [run["id"] for run in listed["items"]] == [run_id]
    assert [job["kind"] for job in listed["jobs"]] == ["confirm", "dry_run"]
    overview = client.get("/admin/migration", headers=admin).get_json()
    assert overview["last_backfill"]["id"] == run_id

    rollback = f"/admin/migrations/{run_id}/rollback"
    preview = client.post(rollback, json={"dry_run": True}, headers=admin)
    assert preview.status_code == 202
    previewed = follow(client, admin, preview.headers["Location"])
    assert (previewed["kind"], previewed["result"]["undone"]["users"]) == ("rollback_dry_run", 3)
    undone = client.post(rollback, json={}, headers=admin)
    assert undone.status_code == 202
    assert follow(client, admin, undone.headers["Location"])["result"]["dry_run"] is False
    again = client.post(rollback, json={}, headers=admin)
    assert (
        again.status_code == 409 and "already rolled back" in again.get_json()["error"]["message"]
    )
    after = client.get(f"/admin/migrations/{run_id}", headers=admin).get_json()
    assert (after["state"], after["run"]["state"]) == ("completed", "rolled_back")
    verify = client.post("/admin/migration/verify", json={}, headers=admin).get_json()
    assert verify["repositories"]["users"]["counts"]["only_in_memory"] == 3


def test_unknown_runs_and_bad_requests(client, admin):
    assert client.get("/admin/migrations/nope", headers=admin).status_code == 404
    bad = start(client, admin, on_conflict="whatever")
    assert bad.status_code == 422
    assert start(client, admin, batch_size=1.5).status_code == 422
    resume_dry = start(client, admin, resume="00000000-0000-4000-8000-000000000001")
    assert resume_dry.status_code == 422
    assert "dry_run false" in resume_dry.get_json()["error"]["message"]
    assert client.post("/admin/migrations", json={}).status_code == 401


def test_a_failed_backfill_started_over_http_resumes_over_http(client, admin, app):  # noqa: F811
    """A confirmed job has its run's id, and so does the job that resumes the run: the new
    job's row must not collide with the old one's (a 500 before anything runs)."""
    users = [register(client) for _ in range(2)]
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)
    storage = app.extensions["wf_storage"]
    differing = dataclasses.replace(storage.users.get(users[0]["id"]), name="Edited in the db")
    with new_session(storage.parts.engine, write=True) as session:
        storage.parts.bindings["users"].sql(session).upsert(differing)
        session.commit()

    failed = start(client, admin, dry_run=False, on_conflict="fail")
    job = follow(client, admin, failed.headers["Location"])
    assert job["result"]["run"]["state"] == "failed"

    resumed = start(client, admin, dry_run=False, on_conflict="overwrite", resume=job["id"])
    assert resumed.status_code == 202, resumed.get_json()
    assert resumed.get_json()["id"] == job["id"]
    finished = follow(client, admin, resumed.headers["Location"])
    assert finished["result"]["run"]["state"] == "completed", finished
