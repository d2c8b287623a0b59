"""Backup and restore through the adapter, on real SQLite and PostgreSQL: an export restores
into an empty database as it was, in every mode; validation refuses what would not fit."""

from __future__ import annotations

import dataclasses
import io
import json
import threading

import pytest
import sqlalchemy as sa

from tests import databases
from tests.factories import (
    TEST_RING,
    make_api_key,
    make_credential,
    make_execution,
    make_node_execution,
    make_user,
    make_version,
    make_workflow,
)
from tests.integration.test_concurrency import wait_until_blocked_in_the_database
from wfplatform.backup import (
    ExportFormatError,
    ImportRefused,
    export_chunks,
    import_export,
    read_export,
    write_export,
)
from wfplatform.domain.audit import AuditEntry
from wfplatform.domain.codec import to_dict
from wfplatform.extensions import db
from wfplatform.repositories import NAMES
from wfplatform.services.credentials import Credentials
from wfplatform.services.encryption import KeyRing, new_entry
from wfplatform.storage.modes import DATABASE, MEMORY

MODES = [
    pytest.param("memory-only", None, id="memory-only"),
    pytest.param("dual", MEMORY, id="dual-read-memory"),
    pytest.param("dual", DATABASE, id="dual-read-database"),
    pytest.param("database-only", None, id="database-only"),
]
IMPORTS = ("storage.import", "user.import", "api_key.import")  # what an import audits


def populate(storage, owners: int = 3) -> None:
    for _ in range(owners):
        user = storage.users.add(make_user(name="Zoë ☃"))
        workflow = storage.workflows.add(make_workflow(user))
        storage.workflows.update(dataclasses.replace(workflow, name="renamed"))
        storage.workflow_versions.add(make_version(workflow, 1, created_by=user.id))
        storage.api_keys.add(make_api_key(user))
        storage.credentials.add(make_credential(user))
        execution = storage.executions.add(make_execution(user, workflow_id=workflow.id))
        storage.node_executions.add(make_node_execution(execution, output=[[{"ok": "☃"}]]))
        entry = AuditEntry("user.create", "user", user.id, user.id, changes={"email": "changed"})
        storage.audit_logs.add(entry)


def export_text(storage) -> str:
    stream = io.StringIO()
    write_export(storage, stream, "0004")
    return stream.getvalue()


def contents(text: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {name: [] for name in NAMES}
    for name, data in read_export(io.StringIO(text)):
        found[name].append(data)
    return found


def document(**repositories: list) -> io.StringIO:
    """An export document made by hand (records in key order, as the writer orders them)."""
    body = {
        name: sorted((r if isinstance(r, dict) else to_dict(r) for r in items), key=_key)
        for name, items in repositories.items()
    }
    header = {"format": "wfplatform.export", "format_version": 1}
    header.update(exported_at="2025-01-01T00:00:00+00:00", schema_revision="0004")
    return io.StringIO(json.dumps({**header, "repositories": body}))


def _key(data: dict) -> str:
    return data["id"]


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_an_export_restores_into_an_empty_database_as_it_was(make_storage, engine, mode, read_from):
    source = make_storage(mode, read_from=read_from)
    populate(source)
    exported = export_text(source)
    databases.empty_all_tables(engine, db.metadata)
    target = make_storage(mode, read_from=read_from)

    report = import_export(target, io.StringIO(exported), schema_revision="0004")

    original = contents(exported)
    assert {name: len(items) for name, items in original.items()} == {
        "users": 3,
        "workflows": 3,
        "workflow_versions": 3,
        "api_keys": 3,
        "credentials": 3,
        "executions": 3,
        "node_executions": 3,
        "audit_logs": 3,
    }
    for name, items in original.items():
        assert report["repositories"][name]["written"]["inserted"] == len(items)
    restored = contents(export_text(target))
    restored["audit_logs"] = [e for e in restored["audit_logs"] if e["action"] not in IMPORTS]
    assert restored == original  # hashes, versions, timestamps: all
    if mode == "dual":
        assert target.verify()["differences"] == 0
    again = import_export(target, io.StringIO(exported))
    assert {r["written"]["identical"] for r in again["repositories"].values()} == {3}


def test_the_export_is_written_record_by_record(make_storage):
    storage = make_storage("memory-only")
    for _ in range(300):
        storage.users.add(make_user())

    class Recorder:
        def __init__(self) -> None:
            self.sizes: list[int] = []
            self.records_per_write: list[int] = []

        def write(self, text: str) -> None:
            self.sizes.append(len(text))
            self.records_per_write.append(text.count('"password_hash"'))

    recorder = Recorder()
    write_export(storage, recorder, "0004")

    assert len(recorder.sizes) > 300
    assert max(recorder.records_per_write) == 1
    assert max(recorder.sizes) < sum(recorder.sizes) / 100


def test_the_export_starts_before_any_record_is_read(make_storage):
    storage = make_storage("database-only")
    storage.users.add(make_user())
    chunks = export_chunks(storage, "0004")
    assert next(chunks).startswith('{"format": "wfplatform.export"')
    chunks.close()  # the snapshot's session is released


def users_read_database_workflows_read_memory(storage) -> None:
    storage.switch("dual", reason="test", actor="test", read_from=DATABASE, force=True,
                   repositories=["users"])  # fmt: skip


@pytest.mark.parametrize(("mode", "read_from"), [*MODES, pytest.param("dual", "mixed", id="mixed")])
def test_an_export_holds_every_repository_as_of_one_moment(make_storage, mode, read_from):
    mixed = read_from == "mixed"
    storage = make_storage(mode, read_from=MEMORY if mixed else read_from)
    if mixed:
        users_read_database_workflows_read_memory(storage)
    early = storage.users.add(make_user())
    chunks = export_chunks(storage, "0004")
    started = [next(chunks) for _ in range(3)]  # the header, then into the first repository

    storage.users.update(dataclasses.replace(early, name="Renamed later"))
    late = storage.users.add(make_user())
    storage.workflows.add(make_workflow(late))
    document = json.loads("".join(started + list(chunks)))

    assert document["repositories"]["users"] == [to_dict(early)]
    assert document["repositories"]["workflows"] == []


def test_an_export_waiting_for_the_database_does_not_hold_up_memory(make_storage, engine):
    """`snapshot` holds memory's lock while its first statement runs. A statement that
    waits (here behind a lock a migration's ALTER TABLE would take) then stops every
    memory read and write of the process; with a unit of work that holds a row lock of
    that table and waits for memory's lock to commit, nobody can move on at all."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's readers never wait for a lock (write-ahead log)")
    storage = make_storage("dual", read_from=MEMORY)
    users_read_database_workflows_read_memory(storage)
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    migration = engine.connect()
    migration.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
    exporting = threading.Thread(target=export_text, args=(storage,), daemon=True)
    exporting.start()
    wait_until_blocked_in_the_database(engine)  # the export's first statement, on users

    reading = threading.Thread(target=storage.workflows.get, args=(workflow.id,), daemon=True)
    reading.start()
    reading.join(2)
    held_up = reading.is_alive()
    migration.rollback()
    migration.close()
    exporting.join(10)
    reading.join(10)

    assert not held_up, "a memory read waited for a database lock"


@pytest.mark.parametrize(("mode", "read_from"), [MODES[0], MODES[3]])
def test_a_dry_run_counts_and_changes_nothing(make_storage, mode, read_from):
    source = make_storage(mode, read_from=read_from)
    user = source.users.add(make_user())
    kept = source.workflows.add(make_workflow(user))
    exported = export_text(source)
    source.workflows.update(dataclasses.replace(kept, name="changed since"))
    source.users.add(make_user())  # not in the document: left alone
    before = contents(export_text(source))

    report = import_export(source, io.StringIO(exported), dry_run=True)

    counts = {name: report["repositories"][name] for name in ("users", "workflows")}
    assert (counts["users"]["identical"], counts["users"]["insert"]) == (1, 0)
    assert (counts["workflows"]["update"], counts["workflows"]["identical"]) == (1, 0)
    assert "written" not in counts["users"] and report["dry_run"] is True
    assert contents(export_text(source)) == before


def test_invalid_records_are_reported_and_nothing_is_written(make_storage):
    storage = make_storage("database-only")
    stored = storage.users.add(make_user(email="taken@example.com"))
    twins = [make_user(email="Ada@example.com"), make_user(email="ada@EXAMPLE.com")]
    first, second = sorted(twins, key=lambda user: user.id)  # the first in key order is kept
    emperor = {**to_dict(make_user()), "role": "emperor"}
    clash = make_user(email="TAKEN@example.com")  # the target has this email on another id
    stray = make_workflow(make_user())  # its owner is nowhere
    orphan_key = make_api_key(make_user(id=emperor["id"]))  # its owner is invalid
    source = document(
        users=[*twins, emperor, clash],
        workflows=[stray, make_workflow(first)],
        api_keys=[orphan_key],
    )

    with pytest.raises(ImportRefused) as refused:
        import_export(storage, source)

    report = refused.value.details
    assert refused.value.status == 409 and "nothing was imported" in refused.value.message
    assert report["problems"] == 5
    users = report["repositories"]["users"]
    assert (users["insert"], users["invalid"]) == (1, 3)
    problems = {sample["id"]: sample["problems"] for sample in users["samples"]}
    assert problems[emperor["id"]] == {"role": "one of user, admin"}
    assert problems[clash.id]["email"] == f"not unique: users record {stored.id} already has it"
    assert problems[second.id] == {"email": f"not unique: users record {first.id} of the document"}
    assert first.id not in problems
    (stray_sample,) = report["repositories"]["workflows"]["samples"]
    assert stray_sample["problems"] == {
        "user_id": f"no users record {stray.user_id} in the document or the target"
    }
    assert report["repositories"]["api_keys"]["invalid"] == 1
    assert storage.users.get(first.id) is None  # refused as a whole


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_credentials_sealed_with_a_key_the_ring_lacks_are_refused_before_anything_is_written(
    make_storage, mode, read_from
):
    storage = make_storage(mode, read_from=read_from)
    owner = make_user()
    other_ring = KeyRing.parse(new_entry("elsewhere"))
    known = make_credential(owner)
    unknown = make_credential(owner, ring=other_ring)
    garbled = make_credential(owner, sealed_data="plain text, not sealed")
    checks = Credentials(storage, TEST_RING).import_problems

    def source():
        return document(users=[owner], credentials=[known, unknown, garbled])

    with pytest.raises(ImportRefused) as refused:
        import_export(storage, source(), checks=checks)
    samples = refused.value.details["repositories"]["credentials"]["samples"]
    assert {sample["id"]: sample["problems"] for sample in samples} == {
        unknown.id: {"sealed_data": "sealed with key elsewhere, which WF_ENCRYPTION_KEYS lacks"},
        garbled.id: {"sealed_data": "not a sealed value"},
    }
    assert storage.users.get(owner.id) is None  # nothing written

    report = import_export(storage, source(), checks=checks, force=True)
    assert report["repositories"]["credentials"]["written"]["inserted"] == 1
    assert storage.credentials.get(known.id) == known  # ciphertext as it was stored
    assert storage.credentials.get(unknown.id) is None


def test_force_imports_the_valid_records_only(make_storage):
    storage = make_storage("memory-only")
    good = make_user()
    source = document(users=[good, {**to_dict(make_user()), "role": "emperor"}])

    report = import_export(storage, source, force=True)

    assert report["problems"] == 1 and report["forced"] is True
    assert report["repositories"]["users"]["written"] == {
        "inserted": 1,
        "updated": 0,
        "identical": 0,
        "failed": 0,
    }
    assert storage.users.get(good.id) == good


def test_a_restore_brings_back_older_versions_exactly(make_storage):
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(user))
    exported = export_text(storage)
    for number in (1, 2):
        workflow = storage.workflows.update(dataclasses.replace(workflow, name=f"v{number}"))
    assert workflow.version == 3

    report = import_export(storage, io.StringIO(exported))

    assert report["repositories"]["workflows"]["written"]["updated"] == 1
    restored = storage.workflows.get(workflow.id)
    assert (restored.version, restored.name) == (1, contents(exported)["workflows"][0]["name"])
    assert storage.verify()["differences"] == 0


def test_an_import_is_audited(make_storage):
    storage = make_storage("memory-only")
    import_export(storage, document(users=[make_user()]))
    from wfplatform.repositories.audit import AuditQuery

    (entry,) = storage.audit_logs.list(AuditQuery(action="storage.import")).items
    assert entry.changes["written"]["users"]["inserted"] == 1


def test_a_document_of_another_format_version_is_refused_before_anything(make_storage):
    storage = make_storage("memory-only")
    text = document(users=[make_user()]).getvalue().replace('"format_version": 1', '"f": 2')
    with pytest.raises(ExportFormatError, match="unexpected member 'f'"):
        import_export(storage, io.StringIO(text))
    text = text.replace('"f": 2', '"format_version": 2')
    with pytest.raises(ExportFormatError, match="version 2 is not supported"):
        import_export(storage, io.StringIO(text))
    assert storage.users.list().total == 0


def test_an_export_of_another_schema_revision_is_imported_with_a_warning(make_storage):
    storage = make_storage("memory-only")
    report = import_export(storage, document(users=[make_user()]), schema_revision="0009")
    assert "exported at schema revision 0004" in report["warnings"][0]


def test_an_export_while_the_database_is_behind_its_journal_reads_memory(make_storage, tmp_path):
    """Dual reading the database after a fault: journaled writes are only in memory."""
    from wfplatform.backup.export import write_export
    from wfplatform.backup.reader import read_export

    storage = make_storage("dual", read_from="database")
    storage.users.add(make_user())
    storage.parts.health.mark_down("connection refused")  # as after a failed database call
    late = storage.users.add(make_user())  # served from memory, journaled
    assert len(storage.parts.journal) == 1
    storage.parts.health.mark_up()
    stream = io.StringIO()
    write_export(storage, stream, None)
    stream.seek(0)
    exported = [data["id"] for name, data in read_export(stream) if name == "users"]
    assert late.id in exported
