"""An app made by the factory (`create_app()`, as `flask run` or `gunicorn
'wfplatform:create_app()'` make it) is ready before its first request: the journal an
earlier process left is replayed and memory is loaded at start-up, not when a request
first touches storage."""

from __future__ import annotations

import base64
import gc
import json
import logging
from collections.abc import Iterator

import pytest
from flask_migrate import upgrade

from tests.apps import close_app
from tests.factories import KEY_RING, make_user
from wfplatform import create_app
from wfplatform.backends.sql import new_session
from wfplatform.bootstrap import get_storage, services
from wfplatform.config import ConfigurationError
from wfplatform.domain.codec import copy_record, to_dict
from wfplatform.repositories import Repositories
from wfplatform.services.context import Actor
from wfplatform.services.encryption import new_entry
from wfplatform.storage.journal import Change, SyncJournal, damage_warning
from wfplatform.storage.journal_format import encode
from wfplatform.storage.modes import RepositoryMode

USERS = Repositories.users


@pytest.fixture
def make_app(tmp_path) -> Iterator:
    apps = []

    def make(**config):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "start-up test key",
                "WF_ENCRYPTION_KEYS": KEY_RING,
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
    assert len(storage.parts.journal) == 0
    with new_session(storage.parts.engine) as session:
        assert USERS.sql(session).fetch(journaled.id) == journaled
    assert storage.parts.warmup.pending() == []
    assert storage.users.get(in_database.id) == in_database
    assert storage.users.get(journaled.id) == journaled


def test_what_start_up_loaded_is_left_out_of_later_full_collections(make_app):
    """A serving process freezes what start-up made, memory's loaded records included."""
    migrated = make_app(WF_START_STORAGE=False)
    with migrated.app_context():
        upgrade()
    user = get_storage(migrated).users.add(make_user())
    get_storage(migrated).close()
    gc.unfreeze()
    try:
        app = make_app()  # in dual: memory is loaded from the database
        loaded = app.extensions["wf_storage"].parts.memory.tables["users"].records[user.id]
        assert copy_record(loaded) == user
        assert gc.get_freeze_count() > 0
        assert not any(obj is loaded for obj in gc.get_objects())  # every generation
    finally:
        gc.unfreeze()  # the rest of the suite collects as usual


def test_tests_and_tools_that_set_wf_start_storage_false_get_storage_on_first_use(make_app):
    app = make_app(WF_START_STORAGE=False)

    assert app.extensions["wf_storage"] is None


def test_a_service_starts_with_a_damaged_journal_replays_the_intact_entries_and_reports_the_rest(
    make_app, tmp_path, caplog
):
    migrated = make_app(WF_START_STORAGE=False)
    with migrated.app_context():
        upgrade()
    get_storage(migrated).close()
    first, last = make_user(), make_user()
    earlier = SyncJournal(tmp_path / "sync-journal.log")
    earlier.append([Change("users", first.id, to_dict(first))])
    earlier.close()
    with open(tmp_path / "sync-journal.log", "a", encoding="utf-8") as journal:
        journal.write('{"seq": 2, "changes": [{"repos\n')  # unreadable, not the last line
        journal.write(encode(3, [Change("gadgets", "g1", None)]) + "\n")  # no such repository
        journal.write(encode(4, [Change("users", last.id, to_dict(last))]) + "\n")
    admin = {"email": "ops@example.com", "password": "admin password"}

    with caplog.at_level(logging.ERROR, logger="wfplatform.storage.journal"):
        app = make_app(
            WF_ADMIN_EMAIL=admin["email"],
            WF_ADMIN_PASSWORD=admin["password"],
            WF_PASSWORD_TIME_COST=1,
            WF_PASSWORD_MEMORY_KIB=1024,
        )

    storage = app.extensions["wf_storage"]
    with new_session(storage.parts.engine) as session:
        assert USERS.sql(session).fetch_many([first.id, last.id]) == {
            first.id: first,
            last.id: last,
        }
    assert "2 damaged lines" in caplog.text
    client = app.test_client()
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json["warnings"] == [damage_warning(2)]
    assert str(tmp_path) not in json.dumps(ready.json)  # anonymous callers learn no paths
    token = client.post("/api/auth/login", json=admin).json["access_token"]
    overview = client.get("/admin/migration", headers={"Authorization": f"Bearer {token}"}).json
    damage = overview["journal_damage"]
    assert damage["lines_kept_aside"] == 2
    assert damage["file"] == str(tmp_path / "sync-journal.log.damaged")
    assert [sample["line"] for sample in damage["found_at_start"]["samples"]] == [2, 3]
    assert damage_warning(2) in overview["warnings"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "wf_storage_journal_damaged_lines 2.0" in metrics


def _migrated(make_app):
    migrated = make_app(WF_START_STORAGE=False)
    with migrated.app_context():
        upgrade()
    return migrated


def test_a_service_without_a_key_ring_refuses_to_start(make_app):
    _migrated(make_app)
    with pytest.raises(ConfigurationError, match="WF_ENCRYPTION_KEYS is not set") as refused:
        make_app(WF_ENCRYPTION_KEYS=None)
    assert "flask wf gen-key" in str(refused.value)


def test_a_ring_that_cannot_be_used_stops_start_up_without_showing_a_key(make_app):
    _migrated(make_app)
    short = base64.b64encode(b"k" * 16).decode()
    with pytest.raises(ConfigurationError, match=r"entry 2 \(old\): the key is not") as refused:
        make_app(WF_ENCRYPTION_KEYS=f"{KEY_RING},old:{short}")
    assert short not in str(refused.value) and KEY_RING.split(":")[1] not in str(refused.value)


def test_a_ring_that_lacks_a_key_stored_credentials_use_stops_start_up(make_app):
    migrated = _migrated(make_app)
    owner = get_storage(migrated).users.add(make_user())
    services(migrated).credentials.create(
        Actor(owner.id), {"name": "c", "type": "t", "data": {"token": "x"}}
    )
    get_storage(migrated).close()
    other_ring = new_entry("another")
    with pytest.raises(ConfigurationError) as refused:
        make_app(WF_ENCRYPTION_KEYS=other_ring)
    message = str(refused.value)
    assert "1 credential(s) in memory are sealed with key test-key-1" in message  # dual
    assert "1 credential(s) in database are sealed with key test-key-1" in message
    app = make_app(WF_ENCRYPTION_KEYS=f"{other_ring},{KEY_RING}")  # the old key kept: it starts
    assert app.extensions["wf_storage"] is not None


def test_the_ring_may_come_from_a_file_and_one_that_cannot_be_read_stops_start_up(
    make_app, tmp_path
):
    _migrated(make_app)
    ring_file = tmp_path / "ring"
    ring_file.write_text("\ufeff" + KEY_RING + "\n", encoding="utf-8")  # an editor's BOM, a newline
    app = make_app(WF_ENCRYPTION_KEYS=None, WF_ENCRYPTION_KEYS_FILE=str(ring_file))
    assert services(app).credentials.key_ring().ids == ("test-key-1",)
    missing = tmp_path / "no such ring"
    with pytest.raises(ConfigurationError, match="WF_ENCRYPTION_KEYS_FILE: cannot read"):
        make_app(WF_ENCRYPTION_KEYS=None, WF_ENCRYPTION_KEYS_FILE=str(missing))
