"""The app as an operator starts it: configuration, the CLI, JSON errors."""

from __future__ import annotations

import json
import logging

import pytest
from flask_migrate import upgrade

from tests.apps import close_app
from wfplatform import create_app
from wfplatform.bootstrap import get_storage
from wfplatform.errors import StorageUnavailable


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    apps = []

    def make(storage_mode: str = "memory-only"):
        monkeypatch.setenv("WF_STORAGE_MODE", storage_mode)
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "WF_START_STORAGE": False},
            instance_path=str(tmp_path / "instance"),
        )
        with app.app_context():
            upgrade()
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


def test_a_fresh_database_takes_its_modes_from_the_environment(make_app):
    app = make_app("dual")
    assert get_storage(app).parts.modes.get("workflows").label() == "dual(read_from=memory)"


def test_stored_modes_win_on_restart_and_the_log_says_so(make_app, caplog):
    get_storage(make_app("dual"))
    with caplog.at_level(logging.WARNING, logger="wfplatform.storage.mode_registry"):
        restarted = get_storage(make_app("memory-only"))
    assert restarted.parts.modes.get("users").label() == "dual(read_from=memory)"
    assert "as stored in the database, not memory-only from the environment" in caplog.text


def test_the_cli_shows_and_switches_modes_behind_the_guards(make_app):
    runner = make_app().test_cli_runner()
    shown = runner.invoke(args=["wf", "mode", "show"])
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["users"]["mode"] == "memory-only"

    refused = runner.invoke(args=["wf", "mode", "set", "database-only", "--reason", "hurry"])
    assert refused.exit_code != 0
    assert "one step at a time" in refused.output

    switched = runner.invoke(args=["wf", "mode", "set", "dual", "--reason", "cut-over"])
    assert switched.exit_code == 0, switched.output
    assert json.loads(switched.stdout)["modes"]["users"]["mode"] == "dual"

    verified = runner.invoke(args=["wf", "verify"])
    assert json.loads(verified.stdout)["differences"] == 0
    synced = runner.invoke(args=["wf", "sync"])
    assert json.loads(synced.stdout) == {"replayed": 0, "pending": 0, "error": None}
    ready = runner.invoke(args=["wf", "readiness"])
    assert json.loads(ready.stdout)["users"]["current"] == "dual(read_from=memory)"


def test_the_cli_requires_a_reason(make_app):
    runner = make_app().test_cli_runner()
    missing = runner.invoke(args=["wf", "mode", "set", "dual"])
    assert missing.exit_code != 0
    assert "--reason" in missing.output
    blank = runner.invoke(args=["wf", "mode", "set", "dual", "--reason", " "])
    assert blank.exit_code != 0
    assert "a reason is required" in blank.output


def test_errors_are_json_with_the_right_status(make_app):
    client = make_app().test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("retry_after", "header"), [("30", "30"), ("2.5", "3")])
def test_a_503_asks_clients_back_once_the_database_is_tried_again(
    make_app, monkeypatch, retry_after, header
):
    """Retry-After is WF_DB_RETRY_AFTER, the pause before a failed database is tried
    again, in the whole seconds the header carries (rounded up)."""
    monkeypatch.setenv("WF_DB_RETRY_AFTER", retry_after)
    app = make_app()

    def unavailable():
        raise StorageUnavailable("database", "connection refused")

    app.add_url_rule("/unavailable", view_func=unavailable)
    answer = app.test_client().get("/unavailable")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == header
    assert answer.get_json()["error"]["code"] == "storage_unavailable"
