"""Test data and checks shared by the workflow API tests."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from wfplatform.storage.modes import Mode

NODES = [
    {"id": "hook", "type": "webhook", "parameters": {"path": "orders"}, "position": [0, 0]},
    {
        "id": "post",
        "name": "Tell the team",
        "type": "slack",
        "parameters": {"channel": "#orders", "text": "new order"},
        "credentials": {"slackApi": {"id": "cred-1", "name": "Slack bot"}},
    },
    {"id": "call", "type": "http_request", "credential_type": "http_basic"},
]
EDGES = [{"from": "hook", "to": "post"}, {"from": "hook", "to": "call"}]
WORKFLOW_REPOSITORIES = ("workflows", "workflow_versions", "audit_logs")


def create(client: FlaskClient, headers: dict, **fields) -> dict:
    body = {"name": "Orders", **fields}
    response = client.post("/api/workflows", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def url(workflow: dict | str, *rest: str) -> str:
    workflow_id = workflow if isinstance(workflow, str) else workflow["id"]
    return "/".join(["/api/workflows", workflow_id, *rest])


def assert_backends_agree(app: Flask) -> None:
    """In dual modes both backends hold the same workflow records after the writes so far.

    Users are left out: an admin made by `flask wf create-admin` is written to the database
    only, and copied into memory only when memory is the users' primary."""
    storage = app.extensions["wf_storage"]
    if app.config["WF_STORAGE_DEFAULT"].mode is Mode.DUAL:
        report = storage.verify(WORKFLOW_REPOSITORIES)
        assert report["differences"] == 0, report
