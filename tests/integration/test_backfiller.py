"""The backfill: dry-run, confirm with a ledger, re-run, resume and exact rollback."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.backfill.jobs import BackfillJobs
from wfplatform.errors import Conflict, GuardRefused, StorageUnavailable
from wfplatform.extensions import db
from wfplatform.jobs import Job
from wfplatform.repositories.sql import SqlRepository
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.modes import DATABASE, MEMORY

CLEAN = {"insert": 0, "update": 0, "identical": 0, "conflict": 0, "invalid": 0}


def dump(engine) -> dict:
    """Every row of every data table, for a byte-for-byte comparison."""
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(
                sa.select(table).order_by(*table.primary_key.columns)
            )]
            for table in db.metadata.sorted_tables
        }  # fmt: skip


@pytest.fixture
def storage(backfill_ready):
    return backfill_ready


def test_dry_run_reports_everything_and_writes_nothing(storage, engine):
    before = dump(engine)
    report = Backfiller(storage).dry_run(Options())
    assert dump(engine) == before
    assert report["repositories"]["users"] == {**CLEAN, "insert": 1}
    assert report["repositories"]["workflow_versions"] == {**CLEAN, "insert": 1}
    assert report["needs_attention"] is False


def test_confirm_copies_what_is_only_in_memory_and_a_rerun_writes_nothing(storage):
    backfiller = Backfiller(storage)
    report = backfiller.confirm(Options(batch_size=1), actor="ops")
    assert report["run"]["state"] == "completed"
    assert report["written"] == {"users": 1, "workflows": 1, "workflow_versions": 1}
    assert storage.verify()["differences"] == 0

    again = backfiller.confirm(Options(), actor="ops")
    assert again["written"] == {"users": 0, "workflows": 0, "workflow_versions": 0}
    assert again["repositories"]["workflows"] == {**CLEAN, "identical": 1}


def test_classifies_updates_conflicts_and_invalid_records(storage, engine):
    user = storage.users.list().items[0]
    memory = storage.in_memory("users")
    # the database holds an older copy of one user, and another id holding an email
    storage.replicator.copy_to_database("users", dataclasses.replace(user, name="older"))
    rival = make_user(email="taken@example.com")
    storage.replicator.copy_to_database("users", rival)
    memory.upsert(make_user(email="TAKEN@example.com"))
    memory.upsert(make_user(email="x" * 400 + "@example.com"))  # too long for the column

    report = Backfiller(storage).dry_run(Options(repositories=("users",)))

    assert report["repositories"]["users"] == {
        "insert": 0, "update": 1, "identical": 0, "conflict": 1, "invalid": 1,
    }  # fmt: skip
    assert report["needs_attention"] is True
    assert {s["action"] for s in report["samples"]} == {"conflict", "invalid"}


def test_updates_are_only_overwritten_when_asked_and_rollback_restores_them(storage):
    user = storage.users.list().items[0]
    storage.replicator.copy_to_database("users", dataclasses.replace(user, name="older"))
    backfiller = Backfiller(storage)
    skipped = backfiller.confirm(Options(repositories=("users",)), actor="ops")
    assert skipped["written"] == {"users": 0}
    assert storage.verify(["users"])["repositories"]["users"]["differing"] == [user.id]

    overwritten = backfiller.confirm(
        Options(repositories=("users",), on_conflict="overwrite"), "ops"
    )
    assert overwritten["written"] == {"users": 1}
    assert storage.verify(["users"])["differences"] == 0

    backfiller.rollback(overwritten["run"]["id"])
    differing = storage.verify(["users"])["repositories"]["users"]["differing"]
    assert differing == [user.id]  # the older copy is back, exactly


def test_fail_stops_the_run_at_the_first_update(storage):
    user = storage.users.list().items[0]
    storage.replicator.copy_to_database("users", dataclasses.replace(user, name="older"))
    report = Backfiller(storage).confirm(Options(on_conflict="fail"), actor="ops")
    assert report["run"]["state"] == "failed"
    assert "update" in report["run"]["error"]


def test_rollback_undoes_exactly_the_run_and_keeps_later_changes(storage, engine):
    before = dump(engine)
    backfiller = Backfiller(storage)
    run_id = backfiller.confirm(Options(), actor="ops")["run"]["id"]
    workflow = storage.workflows.list(WorkflowQuery()).items[0]
    storage.workflows.update(dataclasses.replace(workflow, name="changed after the run"))

    preview = backfiller.rollback(run_id, dry_run=True)
    assert preview["conflict_count"] == 1
    assert backfiller.runs.get(run_id)["state"] == "completed"

    result = backfiller.rollback(run_id)
    assert result["undone"] == {"workflow_versions": 1}
    assert result["conflicts"][0]["id"] == workflow.id  # changed since: kept
    assert dump(engine) != before  # the workflow (and so its owner) stayed
    assert backfiller.runs.get(run_id)["state"] == "completed"  # rows of it are left

    again = backfiller.rollback(run_id)  # what was undone is skipped, not a conflict
    assert again["undone"] == {} and again["conflict_count"] == result["conflict_count"]
    forced = backfiller.rollback(run_id, force=True)
    assert forced["undone"] == {"workflows": 1, "users": 1}
    assert backfiller.runs.get(run_id)["state"] == "rolled_back"
    with pytest.raises(Conflict, match="already rolled back"):
        backfiller.rollback(run_id)
    after = dump(engine)
    assert {t: after[t] for t in ("users", "workflows", "workflow_versions")} == {
        t: before[t] for t in ("users", "workflows", "workflow_versions")
    }


def test_a_forced_rollback_removes_everything_the_run_wrote(storage, engine):
    before = dump(engine)
    backfiller = Backfiller(storage)
    run_id = backfiller.confirm(Options(), actor="ops")["run"]["id"]
    result = backfiller.rollback(run_id, force=True)
    assert result["undone"] == {"users": 1, "workflows": 1, "workflow_versions": 1}
    after = dump(engine)
    assert {t: after[t] for t in ("users", "workflows", "workflow_versions")} == {
        t: before[t] for t in ("users", "workflows", "workflow_versions")
    }


def test_rollback_is_refused_while_the_database_is_read(storage):
    backfiller = Backfiller(storage)
    run_id = backfiller.confirm(Options(), actor="ops")["run"]["id"]
    storage.switch("dual", read_from="database", reason="flip", actor="ops")
    with pytest.raises(GuardRefused) as refused:
        backfiller.rollback(run_id)
    assert "reads from the database" in refused.value.details["refused"][0]


def test_a_live_backfill_is_refused_once_reads_come_from_the_database(backfill_ready):
    storage = backfill_ready
    storage.switch("dual", read_from=DATABASE, reason="reads move", actor="ops", force=True)
    with pytest.raises(GuardRefused) as refused:
        Backfiller(storage).confirm(Options(repositories=("users",)), actor="ops")
    assert refused.value.details["refused"] == [
        "users reads from the database: a backfill copies memory into it, "
        "so switch its reads back to memory first"
    ]
    assert Backfiller(storage).dry_run(Options())["dry_run"] is True  # looking is harmless


def test_a_live_backfill_needs_dual_mode(make_storage):
    storage = make_storage("memory-only")
    with pytest.raises(GuardRefused) as refused:
        Backfiller(storage).confirm(Options(), actor="ops")
    assert "switch it to dual first" in refused.value.details["refused"][0]


def test_an_interrupted_run_resumes_to_the_same_end_state(storage):
    for _ in range(5):
        storage.users.add(make_user())  # dual: these are in both already
    extra = [make_user() for _ in range(4)]
    for user in extra:
        storage.in_memory("users").upsert(user)  # only in memory
    backfiller = Backfiller(storage)

    def stop_after_first_batch(repository, done, total):
        if repository == "users" and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfiller.confirm(Options(batch_size=2), actor="ops", progress=stop_after_first_batch)
    (run,) = backfiller.runs.list()
    assert run["state"] == "failed"

    resumed = backfiller.confirm(Options(batch_size=2), actor="ops", resume=run["id"])
    assert resumed["run"]["id"] == run["id"] and resumed["run"]["state"] == "completed"
    assert storage.verify()["differences"] == 0


def test_a_backfill_under_concurrent_writes_ends_with_no_difference(make_storage):
    storage = make_storage("memory-only")
    users = [storage.users.add(make_user()) for _ in range(40)]
    storage.switch("dual", read_from=MEMORY, reason="cut-over", actor="ops")
    stop = threading.Event()
    errors = []

    def write_while_it_runs():
        round_ = 0
        while not stop.is_set():
            round_ += 1
            for user in users[::3]:
                try:
                    storage.users.update(dataclasses.replace(user, name=f"round {round_}"))
                except Exception as exc:  # surfaced below
                    errors.append(exc)

    writer = threading.Thread(target=write_while_it_runs)
    writer.start()
    try:
        report = Backfiller(storage).confirm(Options(batch_size=7), actor="ops")
    finally:
        stop.set()
        writer.join(10)
    assert errors == []
    assert report["run"]["state"] == "completed"
    assert storage.verify()["differences"] == 0


def test_a_record_written_after_its_batch_was_read_ahead_is_written_as_it_is_now(make_storage):
    """A batch is read from memory while the one before it is written, without its record
    locks: what a dual write changed in between is read again under them, so even
    `overwrite` never writes the copy read before."""
    storage, users = _dual_users(make_storage, 4)
    last = users[-1]
    written = []

    class WrittenMeanwhile(Backfiller):
        def _read(self, name, keys, mapped):
            read = super()._read(name, keys, mapped)
            if name == "users" and last.id in keys and not written:
                written.append(storage.users.update(dataclasses.replace(last, name="meanwhile")))
            return read

    options = Options(repositories=("users",), batch_size=2, on_conflict="overwrite")
    report = WrittenMeanwhile(storage).confirm(options, actor="ops")
    assert written and report["run"]["state"] == "completed"
    assert storage.verify(["users"])["differences"] == 0
    with storage.on_database() as database:
        assert database.repository("users").fetch(last.id).name == "meanwhile"


def test_a_run_whose_job_died_with_its_process_is_interrupted_and_resumes(storage):
    """The job of a process that stopped beating is interrupted, and so is its run: it
    reads `interrupted` (not `running` forever), cannot be rolled back half-done, and
    resumes to completion."""
    jobs = BackfillJobs(Backfiller(storage))
    run_id = jobs.backfiller.start(Options(), actor="ops")
    jobs.store.claim(Job("migration", "confirm", "ops", {}, id=run_id), "a-process-long-gone")
    with pytest.raises(Conflict, match="is running"):
        jobs.backfiller.rollback(run_id)

    assert jobs.get(run_id)["state"] == "interrupted"
    assert jobs.backfiller.runs.get(run_id)["state"] == "interrupted"
    resumed = jobs.begin("confirm", Options(), "ops", resume=run_id)
    assert jobs.wait(resumed.id, 10)["result"]["run"]["state"] == "completed"


def test_one_rollback_of_a_run_at_a_time_until_it_goes_stale(storage, engine):
    backfiller = Backfiller(storage)
    run_id = backfiller.confirm(Options(), actor="ops")["run"]["id"]
    backfiller.runs.begin_rollback(run_id)  # another rollback is under way
    with pytest.raises(Conflict, match="being rolled back already"):
        backfiller.rollback(run_id)

    long_ago = sa.text("UPDATE migration_runs SET updated_at = :when WHERE id = :id")
    with engine.begin() as connection:  # its process died a while ago
        connection.execute(long_ago, {"when": datetime(2020, 1, 1, tzinfo=UTC), "id": run_id})
    assert backfiller.rollback(run_id)["conflict_count"] == 0
    assert backfiller.runs.get(run_id)["state"] == "rolled_back"


def _dual_users(make_storage, count):
    storage = make_storage("memory-only")
    users = sorted((storage.users.add(make_user()) for _ in range(count)), key=lambda u: u.id)
    storage.switch("dual", read_from=MEMORY, reason="cut-over", actor="ops")
    return storage, users


def _reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("backfill-read")]


def test_read_ahead_fault_fails_the_run_and_leaves_no_thread(make_storage):
    """An exception on the read-ahead thread fails the run (the batch before
    it stays counted), no `backfill-read` thread outlives the run, no record lock stays
    taken."""
    storage, users = _dual_users(make_storage, 6)

    class Faulty(Backfiller):
        calls = 0

        def _read(self, name, keys, mapped):
            Faulty.calls += 1
            if name == "users" and Faulty.calls == 2:
                raise RuntimeError("boom in the reader")
            return super()._read(name, keys, mapped)

    backfiller = Faulty(storage)
    with pytest.raises(RuntimeError, match="boom"):
        backfiller.confirm(Options(repositories=("users",), batch_size=2), actor="ops")
    (run,) = backfiller.runs.list()
    assert run["state"] == "failed"
    assert run["counts"]["written"] == {"users": 2}
    assert _reader_threads() == []
    # no record lock left taken
    done = threading.Event()

    def write():
        storage.users.update(dataclasses.replace(users[0], name="after"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(5)


def test_database_fault_mid_run_fails_it_releases_locks_and_resumes(make_storage, monkeypatch):
    """A database fault in the second batch's write fails the run, releases
    the locks, leaves no reader thread, and a resume ends with no difference."""
    storage, users = _dual_users(make_storage, 6)
    original = SqlRepository.upsert_rows
    calls = []

    def faulty(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise StorageUnavailable("database", "connection reset")
        return original(self, rows)

    monkeypatch.setattr(SqlRepository, "upsert_rows", faulty)
    backfiller = Backfiller(storage)
    with pytest.raises(StorageUnavailable):
        backfiller.confirm(Options(repositories=("users",), batch_size=2), actor="ops")
    monkeypatch.setattr(SqlRepository, "upsert_rows", original)
    (run,) = backfiller.runs.list()
    assert run["state"] == "failed"
    assert _reader_threads() == []
    done = threading.Event()

    def write():
        for user in users:
            storage.users.update(dataclasses.replace(user, name="after the fault"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(5)
    resumed = backfiller.confirm(
        Options(repositories=("users",), batch_size=2), actor="ops", resume=run["id"]
    )
    assert resumed["run"]["state"] == "completed"
    assert storage.verify(["users"])["differences"] == 0


def test_record_deleted_after_read_ahead_is_not_copied(make_storage):
    """A record deleted between its batch's read-ahead and its locks is
    not copied (even with `overwrite`), and both sides end equal."""
    storage, users = _dual_users(make_storage, 4)
    victim = users[-1]
    deleted = []

    class DeletedMeanwhile(Backfiller):
        def _read(self, name, keys, mapped):
            read = super()._read(name, keys, mapped)
            if name == "users" and victim.id in keys and not deleted:
                storage.users.delete(victim.id)
                deleted.append(victim.id)
            return read

    report = DeletedMeanwhile(storage).confirm(
        Options(repositories=("users",), batch_size=2, on_conflict="overwrite"), actor="ops"
    )
    assert deleted and report["run"]["state"] == "completed"
    with storage.on_database() as database:
        assert database.repository("users").fetch(victim.id) is None
    assert (
        report["repositories"]["users"]["insert"] + report["repositories"]["users"]["identical"]
        == 3
    )
    assert storage.verify(["users"])["differences"] == 0
