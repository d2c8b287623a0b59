"""What the service writes to disk holds password and key hashes, the signing key and every
record: the instance folder, the SQLite database (and its WAL files), the signing key, the
sync journal and exports are owner-only, even under a umask that would share them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import close_app
from wfplatform import create_app
from wfplatform.storage.journal import Change, SyncJournal
from wfplatform.storage.modes import RepositoryMode


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The worst umask: everything created would be readable and writable by anyone."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def instance(tmp_path, monkeypatch) -> Iterator[Path]:
    """A fresh service on the default database (SQLite in the instance folder), with its
    schema made by `flask db upgrade` and one account registered through the API."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("WF_SECRET_KEY", raising=False)
    folder = tmp_path / "instance"
    config = {
        "TESTING": True,
        "WF_START_STORAGE": False,
        "WF_STORAGE_DEFAULT": RepositoryMode.of("database-only"),
        "WF_PASSWORD_TIME_COST": 1,
        "WF_PASSWORD_MEMORY_KIB": 1024,
    }
    app = create_app(config, instance_path=str(folder))
    upgraded = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    registered = app.test_client().post(
        "/api/auth/register", json={"email": "a@example.com", "password": "correct horse"}
    )
    assert registered.status_code == 201
    yield folder
    close_app(app)


def test_the_instance_folder_is_created_owner_only(instance):
    assert mode(instance) == 0o700


def test_the_database_and_its_wal_files_are_owner_only(instance):
    files = sorted(instance.glob("wfplatform.sqlite3*"))
    assert instance / "wfplatform.sqlite3" in files
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_the_generated_signing_key_and_the_journal_are_owner_only(instance):
    assert mode(instance / "secret_key") == 0o600
    assert mode(instance / "sync-journal.log") == 0o600


def test_a_journal_and_its_checkpoint_are_owner_only(tmp_path):
    journal = SyncJournal(tmp_path / "journal.log")
    try:
        seq = journal.append([Change("users", "a", {"id": "a"})])
        journal.mark_replayed(seq)
    finally:
        journal.close()
    assert mode(tmp_path / "journal.log") == 0o600
    assert mode(tmp_path / "journal.log.checkpoint") == 0o600


def test_an_export_file_is_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = {
        "TESTING": True,
        "SECRET_KEY": "k",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WF_START_STORAGE": False,
    }
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    target = tmp_path / "backup.json"
    (tmp_path / "backup.json.partial").write_text("left by a killed export")
    os.chmod(tmp_path / "backup.json.partial", 0o644)
    try:
        exported = runner.invoke(args=["wf", "export", str(target)])
        assert exported.exit_code == 0, exported.output
        assert target.read_text().startswith("{")
        assert mode(target) == 0o600
    finally:
        close_app(app)
