"""API tests run in every storage mode, on SQLite and on PostgreSQL: the HTTP answers must
not depend on where the records live."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.apps import close_app
from tests.factories import KEY_RING
from wfplatform import create_app
from wfplatform.storage.modes import RepositoryMode

MODES = [
    pytest.param(("memory-only", None), id="memory-only"),
    pytest.param(("dual", "memory"), id="dual-read-memory"),
    pytest.param(("dual", "database"), id="dual-read-database"),
    pytest.param(("database-only", None), id="database-only"),
]
_emails = itertools.count(1)


def app_config(database_url: str, mode: str, read_from: str | None, tmp_path) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-signing-key",
        "WF_ENCRYPTION_KEYS": KEY_RING,
        "WF_STORAGE_DEFAULT": RepositoryMode.of(mode, read_from),
        "WF_START_STORAGE": False,
        "WF_JOURNAL_PATH": str(tmp_path / "journal.log"),
        "WF_PASSWORD_TIME_COST": 1,  # hashing stays Argon2id, cheap enough for tests
        "WF_PASSWORD_MEMORY_KIB": 1024,
        "WF_RATELIMIT_API": "10000 per minute",
        "WF_RATELIMIT_LOGIN": "10000 per minute",
    }


@pytest.fixture(params=MODES)
def app(request, engine, database_url, tmp_path) -> Iterator[Flask]:
    mode, read_from = request.param
    overrides = getattr(request, "param_overrides", {})
    config = {**app_config(database_url, mode, read_from, tmp_path), **overrides}
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    yield app
    close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def register(client: FlaskClient, email: str | None = None, password: str = "correct horse"):
    email = email or f"person{next(_emails)}@example.com"
    response = client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def login(client: FlaskClient, email: str, password: str = "correct horse") -> dict:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture
def auth(client: FlaskClient) -> dict:
    """Headers of a freshly registered, logged-in user."""
    user = register(client)
    return login(client, user["email"])


def make_admin(app: Flask, client: FlaskClient) -> dict:
    """Headers of an admin created the way operators do (`flask wf create-admin`)."""
    email = f"admin{next(_emails)}@example.com"
    result = app.test_cli_runner().invoke(
        args=["wf", "create-admin", "--email", email, "--password", "admin password"]
    )
    assert result.exit_code == 0, result.output
    return login(client, email, "admin password")
