"""An app made by the factory (`create_app()`, as `flask run` or `gunicorn
'wfplatform:create_app()'` make it) is ready before its first request: the journal an
earlier process left is replayed and memory is loaded at start-up, not when a request
first touches storage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask_migrate import upgrade

from tests.apps import close_app
from tests.factories import make_user
from wfplatform import create_app
from wfplatform.domain.codec import to_dict
from wfplatform.repositories import REPOSITORIES
from wfplatform.storage.journal import Change, SyncJournal
from wfplatform.storage.modes import RepositoryMode
from wfplatform.storage.sql import new_session
from wfplatform.storage_ext import get_storage

USERS = next(binding for binding in REPOSITORIES if binding.name == "users")


@pytest.fixture
def make_app(tmp_path) -> Iterator:
    apps = []

    def make(**config):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "start-up test key",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.sqlite3'}",
                "WF_STORAGE_DEFAULT": RepositoryMode.of("dual"),
                "WF_JOURNAL_PATH": str(tmp_path / "sync-journal.log"),
                **config,
            },
            instance_path=str(tmp_path / "instance"),
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


def test_the_factory_replays_an_earlier_journal_and_loads_memory_before_any_request(
    make_app, tmp_path
):
    migrated = make_app(WF_START_STORAGE=False)  # `flask db upgrade`, then a first run
    with migrated.app_context():
        upgrade()
    in_database = get_storage(migrated).users.add(make_user())
    get_storage(migrated).close()
    journaled = make_user()  # acknowledged by a process that died before replaying it
    earlier = SyncJournal(tmp_path / "sync-journal.log")
    earlier.append([Change("users", journaled.id, to_dict(journaled))])
    earlier.close()

    app = make_app()  # no request is made

    storage = app.extensions["wf_storage"]
    assert storage is not None, "storage was not started with the app"
    assert len(storage.journal) == 0
    with new_session(storage.engine) as session:
        assert USERS.sql(session).fetch(journaled.id) == journaled
    assert storage.warmup.pending() == []
    assert storage.users.get(in_database.id) == in_database
    assert storage.users.get(journaled.id) == journaled


def test_tests_and_tools_that_set_wf_start_storage_false_get_storage_on_first_use(make_app):
    app = make_app(WF_START_STORAGE=False)

    assert app.extensions["wf_storage"] is None
