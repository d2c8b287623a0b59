"""Text no backend can store (a lone UTF-16 surrogate, a NUL), met below the HTTP edge, on
real SQLite and PostgreSQL: the domain checks refuse it in every mode, and records stored
before those checks existed neither break an export nor crash a backfill."""

from __future__ import annotations

import io

import pytest

from tests.factories import make_user, make_workflow
from wfplatform.backends.sql import new_session
from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.backup import read_export, write_export
from wfplatform.backup.export import buffered, export_chunks
from wfplatform.domain.audit import AuditEntry
from wfplatform.errors import ValidationFailed
from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.audit import AuditQuery
from wfplatform.services.context import Actor
from wfplatform.services.text_repair import repair_text
from wfplatform.storage.modes import DATABASE, MEMORY

MODES = [
    pytest.param("memory-only", None, id="memory-only"),
    pytest.param("dual", MEMORY, id="dual-read-memory"),
    pytest.param("dual", DATABASE, id="dual-read-database"),
    pytest.param("database-only", None, id="database-only"),
]


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_no_backend_stores_unstorable_text_in_any_field(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    owner = storage.users.add(make_user())
    before = stored(storage)
    node = {"id": "a", "type": "webhook", "parameters": {"path": "/x"}}
    refused = [
        make_user(name="Ada \ud800"),
        make_user(email="nul\x00@example.com"),
        make_workflow(owner, tags=["fine", "\udc80"]),
        make_workflow(owner, nodes=[{**node, "parameters": {"deep": [{"x": "\x00"}]}}]),
        make_workflow(owner, settings={"key \ud800": "value"}),
        AuditEntry("workflow.create", "workflow", changes={"name": "\ud800"}),
    ]
    holding = {binding.spec.record_type: binding.name for binding in REPOSITORIES}
    for record in refused:
        with pytest.raises(ValidationFailed) as error:
            storage.repository(holding[type(record)]).add(record)
        assert "\x00" not in str(error.value.details) and "\\x00" not in str(error.value.details)
    assert stored(storage) == before
    kept = storage.workflows.add(make_workflow(owner, name="tab\there, escape \x1b, bell \x07"))
    assert storage.workflows.get(kept.id).name == kept.name


def stored(storage) -> dict[str, tuple[int, int]]:
    """How many records each repository holds in memory and in the database."""
    with new_session(storage.parts.engine) as session:
        return {
            name: (storage.in_memory(name).count(), binding.sql(session).count())
            for name, binding in storage.parts.bindings.items()
        }


def _store_before_the_fix(storage):
    """Records as an earlier version accepted them: straight into memory, unchecked."""
    memory = storage.in_memory
    owner = make_user(name="Zoë \ud800")
    memory("users").upsert(owner)
    memory("users").upsert(make_user(email="nul\x00@example.com"))  # a unique field
    workflow = make_workflow(owner, name="Orders \udfff", tags=["a\x00"])
    memory("workflows").upsert(workflow)
    entry = AuditEntry(
        "workflow.create", "workflow", workflow.id, owner.id, changes={"n": "\ud800"}
    )
    memory("audit_logs").upsert(entry)
    return owner, workflow


def test_an_export_keeps_records_stored_before_the_fix(make_storage):
    storage = make_storage("memory-only")
    good = storage.users.add(make_user(name="Zoë ☃"))
    owner, workflow = _store_before_the_fix(storage)

    body = b"".join(buffered(export_chunks(storage, "0004")))  # UTF-8, as sent over HTTP
    assert body.isascii()  # every character escaped: any reader, any encoding
    records = {data["id"]: data for _, data in read_export(io.StringIO(body.decode()))}
    assert records[good.id]["name"] == "Zoë ☃"
    assert records[owner.id]["name"] == owner.name  # kept as it is: a backup loses nothing
    assert records[workflow.id]["tags"] == ["a\x00"]
    stream = io.StringIO()
    assert write_export(storage, stream, "0004")["audit_logs"] == 1


def test_a_backfill_reports_records_stored_before_the_fix_and_copies_the_rest(make_storage):
    storage = make_storage("memory-only")
    good = storage.users.add(make_user())
    kept = storage.workflows.add(make_workflow(good))
    owner, workflow = _store_before_the_fix(storage)
    storage.switch("dual", reason="start the cut-over", actor="ops")

    report = Backfiller(storage).confirm(Options(batch_size=2), actor="ops")

    assert report["run"]["state"] == "completed"
    assert report["repositories"]["users"]["invalid"] == 2
    assert report["repositories"]["workflows"]["invalid"] == 1
    assert report["repositories"]["audit_logs"]["invalid"] == 1
    assert report["written"]["users"] == 1 and report["written"]["workflows"] == 1
    reasons = {sample["id"]: sample["reason"] for sample in report["samples"]}
    assert "name" in reasons[owner.id] and "surrogate" in reasons[owner.id]
    assert "\ud800" not in str(report) and "\x00" not in str(report)
    assert storage.verify(["workflows"])["repositories"]["workflows"]["only_in_memory"] == [
        workflow.id
    ]
    assert storage.workflows.get(kept.id) is not None
    assert workflow.id in reasons


def test_a_dual_write_the_database_fails_on_unexpectedly_is_counted_not_raised(
    make_storage, caplog
):
    """A parent stored before the checks (a lone surrogate in its name, memory only) makes
    the driver raise UnicodeEncodeError while the new workflow is replicated: memory has
    committed it, so the write is acknowledged, and the difference is counted and sampled
    (not journaled: a replay would fail the same way forever, holding every later write)."""
    storage = make_storage("dual", read_from=MEMORY)
    owner = make_user(name="Ada \ud800")
    storage.in_memory("users").upsert(owner)

    workflow = storage.workflows.add(make_workflow(owner))

    assert storage.workflows.get(workflow.id) == workflow
    stats = storage.parts.stats.snapshot("workflows")
    assert stats["secondary_errors"] == 1 and stats["journaled"] == 0
    (sample,) = stats["mismatch_samples"]
    assert sample["keys"] == [workflow.id] and sample["reason"] == "UnicodeEncodeError"
    assert len(storage.parts.journal) == 0
    report = storage.verify(["workflows"])["repositories"]["workflows"]
    assert report["only_in_memory"] == [workflow.id]
    later = storage.workflows.add(make_workflow(storage.users.add(make_user())))
    assert storage.verify(["workflows"])["repositories"]["workflows"]["only_in_memory"] == [
        workflow.id
    ]  # later writes replicate as before
    assert later.id not in report["only_in_memory"]
    assert "\ud800" not in caplog.text


def test_a_journaled_change_the_database_fails_on_is_set_aside_and_the_rest_replayed(
    make_storage,
):
    storage = make_storage("dual", read_from=MEMORY)
    owner = make_user(name="Ada \ud800")
    storage.in_memory("users").upsert(owner)
    storage.parts.health.mark_down("connection refused")  # writes go to memory and the journal
    refused = storage.workflows.add(make_workflow(owner))
    later = storage.users.add(make_user())
    storage.parts.health.mark_up()

    assert storage.replay_journal() == {"replayed": 2, "pending": 0, "error": None}

    assert storage.parts.stats.snapshot("workflows")["secondary_errors"] == 1
    report = storage.verify(["workflows", "users"])["repositories"]
    assert report["workflows"]["only_in_memory"] == [refused.id]
    assert report["users"]["only_in_memory"] == [owner.id]
    with new_session(storage.parts.engine) as session:
        assert storage.parts.bindings["users"].sql(session).fetch(later.id) is not None


def test_repairing_records_stored_before_the_fix_lets_the_backfill_copy_them_all(make_storage):
    """Without a repair they are reported by every backfill and stay only in memory, so the
    guards refuse the flip of reads for good: the repair replaces each unstorable character
    by U+FFFD, through the adapter, and audits which records and fields it changed."""
    storage = make_storage("memory-only")
    owner, workflow = _store_before_the_fix(storage)
    storage.switch("dual", reason="start the cut-over", actor="ops")
    actor = Actor(user_id=None, role="admin", ip=None, user_agent=None)

    preview = repair_text(storage, actor, dry_run=True)
    assert preview["repaired"] == {"users": 2, "workflows": 1, "audit_logs": 1}
    assert storage.in_memory("users").fetch(owner.id) == owner  # a preview
    assert repair_text(storage, actor)["repaired"] == preview["repaired"]

    assert storage.users.get(owner.id).name == "Zoë \ufffd"
    assert list(storage.workflows.get(workflow.id).tags) == ["a\ufffd"]
    report = Backfiller(storage).confirm(Options(), actor="ops")
    assert all(counts["invalid"] == 0 for counts in report["repositories"].values())
    storage.switch("dual", read_from=DATABASE, reason="flip reads", actor="ops")  # unforced
    assert storage.verify()["differences"] == 0
    repairs = [e for e in storage.audit_logs.list(AuditQuery()).items if e.action == "text.repair"]
    assert {entry.resource_id for entry in repairs} >= {owner.id, workflow.id}
    assert repairs[0].changes["fields"] and "\ufffd" not in str([e.changes for e in repairs])
    assert repair_text(storage, actor)["repaired"] == {}  # nothing left to repair
