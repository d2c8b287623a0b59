"""Backup, restore and the integrity check over HTTP and from the CLI: admins only, the
export streamed as an attachment, the import validated first, in every storage mode."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import make_admin
from tests.api.workflow_helpers import EDGES, NODES, assert_backends_agree, create, url
from tests.factories import make_user, make_version, make_workflow
from wfplatform.bootstrap import services
from wfplatform.domain.codec import to_dict

ENDPOINTS = [("get", "/admin/export"), ("post", "/admin/import"), ("post", "/admin/integrity")]


@pytest.fixture
def admin(app, client):
    return make_admin(app, client)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_only_admins_back_up_and_restore(client, auth, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401
    assert getattr(client, method)(path, json={}, headers=auth).status_code == 403


def export(client, admin) -> bytes:
    response = client.get("/admin/export", headers=admin)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return response.get_data()


def with_record(body: bytes, repository: str, record: dict) -> bytes:
    """The document with one more record, in key order (a test may load it whole)."""
    document = json.loads(body)
    records = document["repositories"][repository]
    records.append(record)
    records.sort(key=lambda data: data["id"])
    return json.dumps(document).encode()


def post_import(client, admin, body: bytes, **query):
    return client.post(
        "/admin/import",
        data=body,
        query_string=query,
        headers=admin,
        content_type="application/json",
    )


def run_import(app, client, admin, body: bytes, **query) -> dict:
    """Start an import job and follow it to its end: the job as its URL answers then."""
    started = post_import(client, admin, body, **query)
    assert started.status_code == 202, started.get_json()
    services(app).imports.wait(started.get_json()["id"], timeout=60)
    job = client.get(started.headers["Location"], headers=admin)
    assert job.status_code == 200
    assert job.get_json()["state"] != "running"
    return job.get_json()


def test_an_export_restores_a_deleted_workflow(app, client, auth, admin):
    workflow = create(client, auth, nodes=NODES, edges=EDGES)
    client.patch(url(workflow), json={"create_version": True}, headers=auth)
    versions = client.get(url(workflow, "versions"), headers=auth).get_json()["items"]
    body = export(client, admin)
    assert json.loads(body)["format"] == "wfplatform.export"
    assert client.delete(url(workflow), headers=auth).status_code == 204

    dry = run_import(app, client, admin, body, dry_run="true")
    assert (dry["kind"], dry["state"]) == ("dry_run", "completed")
    assert dry["result"]["repositories"]["workflows"]["insert"] == 1
    assert client.get(url(workflow), headers=auth).status_code == 404
    restored = run_import(app, client, admin, body)

    assert restored["state"] == "completed", restored
    assert restored["phase"] == "restoring"
    assert restored["progress"]["done"] == restored["progress"]["total"] > 0
    report = restored["result"]["repositories"]
    assert report["workflows"]["written"]["inserted"] == 1
    assert report["workflow_versions"]["written"]["inserted"] == len(versions)
    again = client.get(url(workflow), headers=auth).get_json()
    assert (again["version"], again["nodes"]) == (workflow["version"] + 1, NODES)
    assert client.get(url(workflow, "versions"), headers=auth).get_json()["items"] == versions
    assert_backends_agree(app)


def test_an_import_with_invalid_records_is_refused_unless_forced(app, client, admin):
    body = with_record(export(client, admin), "users", {**to_dict(make_user()), "role": "x"})

    for query in ({}, {"dry_run": "true"}):
        refused = run_import(app, client, admin, body, **query)
        assert refused["state"] == "failed"
        error = refused["error"]
        assert error["code"] == "import_refused"
        assert error["details"]["repositories"]["users"]["invalid"] == 1
        assert error["details"]["repositories"]["users"]["samples"][0]["problems"] == {
            "role": "one of user, admin"
        }

    forced = run_import(app, client, admin, body, force="true")
    assert forced["state"] == "completed"
    assert forced["result"]["repositories"]["users"]["written"]["failed"] == 0
    listed = client.get("/admin/imports", headers=admin).get_json()["items"]
    assert [job["id"] for job in listed][:1] == [forced["id"]]
    assert [job["state"] for job in listed] == ["completed", "failed", "failed"]


@pytest.mark.parametrize(
    "body", [b"", b'{"hello": "world"}', b"not json", b'{"format": "wfplatform.export", "form']
)
def test_a_body_that_is_not_an_export_is_422_at_once(client, admin, body):
    response = post_import(client, admin, body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_export"
    assert client.get("/admin/imports", headers=admin).get_json()["items"] == []


def test_a_document_cut_short_fails_its_job_and_writes_nothing(app, client, admin):
    extra = make_user()
    body = with_record(export(client, admin), "users", to_dict(extra))
    failed = run_import(app, client, admin, body[: len(body) - 10])

    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "invalid_export"
    assert failed["phase"] == "validating"
    assert app.extensions["wf_storage"].users.get(extra.id) is None


def test_an_unknown_import_job_is_404(client, admin):
    response = client.get("/admin/imports/nope", headers=admin)
    assert response.status_code == 404


def test_an_import_job_id_with_a_nul_character_is_404(client, admin):
    """Nothing a client sends produces a 500: PostgreSQL's driver refuses a NUL in a
    parameter (a ValueError, not a database answer) when the id is looked up."""
    response = client.get("/admin/imports/a%00b", headers=admin)
    assert response.status_code == 404


def test_the_integrity_check_over_http(app, client, admin):
    clean = client.post("/admin/integrity", json={}, headers=admin)
    assert clean.status_code == 200 and clean.get_json()["problems"] == 0
    bad = client.post("/admin/integrity", json={"repositories": ["gadgets"]}, headers=admin)
    assert bad.status_code == 422


def test_the_cli_exports_imports_and_checks(app, client, admin, tmp_path):
    runner = app.test_cli_runner()
    create(client, admin, nodes=NODES, edges=EDGES)
    target = tmp_path / "backup.json"

    exported = runner.invoke(args=["wf", "export", str(target)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stderr.splitlines()[-1])["records"]["workflows"] == 1
    assert not (tmp_path / "backup.json.partial").exists()
    dry = runner.invoke(args=["wf", "import", str(target), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["repositories"]["workflows"]["identical"] == 1

    target.write_bytes(with_record(target.read_bytes(), "users", {"id": "x"}))
    refused = runner.invoke(args=["wf", "import", str(target)])
    assert refused.exit_code == 1 and "import_refused" in refused.output
    forced = runner.invoke(args=["wf", "import", str(target), "--force", "--progress"])
    assert forced.exit_code == 0, forced.output
    assert "validating: " in forced.stderr and "restoring: " in forced.stderr
    assert json.loads(forced.stdout)["forced"] is True  # the report alone on stdout

    assert runner.invoke(args=["wf", "check-integrity"]).exit_code == 0
    unknown = runner.invoke(args=["wf", "check-integrity", "--repository", "gadgets"])
    assert unknown.exit_code == 2 and "unknown repositories: gadgets" in unknown.output
    unwritable = runner.invoke(args=["wf", "export", str(tmp_path / "missing" / "x.json")])
    assert unwritable.exit_code == 1 and "cannot write" in unwritable.output


def test_the_cli_check_finds_and_fixes_an_orphan(app, client, admin):
    storage = app.extensions["wf_storage"]
    memory_in_use = storage.parts.modes.get("workflow_versions").mode.value != "database-only"
    if not memory_in_use:
        pytest.skip("the database's foreign keys rule orphans out")
    orphan = make_version(make_workflow(make_user()), 1)
    storage.in_memory("workflow_versions").upsert(orphan)
    runner = app.test_cli_runner()

    found = runner.invoke(args=["wf", "check-integrity", "--repository", "workflow_versions"])
    assert found.exit_code == 1
    assert "keep records in process memory" in found.stderr
    fixed = runner.invoke(args=["wf", "check-integrity", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["fixed"] == 1
    assert storage.in_memory("workflow_versions").fetch(orphan.id) is None


def test_an_export_to_standard_output_is_the_document(app, admin):
    result = app.test_cli_runner().invoke(args=["wf", "export", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format_version"] == 1


def test_an_import_larger_than_its_limit_is_413(app, client, admin):
    app.config["WF_MAX_IMPORT_BYTES"] = 100
    response = post_import(client, admin, b" " * 1000)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert "WF_MAX_IMPORT_BYTES (100 bytes)" in response.get_json()["error"]["message"]
