"""Rollback and resume under races: what a rollback may call done, the state a
taken-over rollback leaves, a run still writing after it was reported interrupted, and
the counts a resumed run carries over."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from wfplatform.backends.sql import new_session
from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.errors import Conflict, StorageUnavailable
from wfplatform.jobs.runner import JobFenced
from wfplatform.models import LedgerEntryModel, UserModel
from wfplatform.repositories.workflows import WorkflowQuery

USERS = Options(repositories=("users",), on_conflict="overwrite")


@pytest.fixture
def storage(backfill_ready):
    return backfill_ready


def database_copy(storage, user_id):
    with new_session(storage.parts.engine) as session:
        return storage.parts.bindings["users"].sql(session).fetch(user_id)


def test_a_row_another_run_put_back_is_not_taken_for_undone(storage):
    """Run A overwrote a row x -> y, run B (an older export) put it back y -> x. The row
    at A's before-image is not taken for undone by A (only ledger entries marked undone
    are): A cannot read `rolled_back` while B's rollback later restores A's value."""
    user = storage.users.list().items[0]
    memory = storage.in_memory("users")
    storage.replicator.copy_to_database("users", dataclasses.replace(user, name="x"))
    memory.upsert(dataclasses.replace(user, name="y"))
    backfiller = Backfiller(storage)
    run_a = backfiller.confirm(USERS, actor="ops")["run"]["id"]  # x -> y
    memory.upsert(dataclasses.replace(user, name="x"))
    run_b = backfiller.confirm(USERS, actor="ops")["run"]["id"]  # y -> x

    backfiller.rollback(run_a)
    backfiller.rollback(run_b)

    a_is_rolled_back = backfiller.runs.get(run_a)["state"] == "rolled_back"
    assert not (a_is_rolled_back and database_copy(storage, user.id).name == "y"), (
        "run A reads rolled_back, yet the row holds the value A wrote"
    )


def test_taking_over_a_stale_rollback_does_not_make_a_completed_run_resumable(storage, engine):
    """A rollback whose process died is taken over; when rows are kept the run goes back
    to what it was (completed), not to `interrupted`, which `resume` would accept (and
    copy back everything the rollback just removed)."""
    backfiller = Backfiller(storage)
    run_id = backfiller.confirm(Options(), actor="ops")["run"]["id"]
    workflow = storage.workflows.list(WorkflowQuery()).items[0]
    storage.workflows.update(dataclasses.replace(workflow, name="changed after the run"))
    backfiller.runs.begin_rollback(run_id)  # its process died ...
    with engine.begin() as connection:  # ... a while ago
        connection.execute(
            sa.text("UPDATE migration_runs SET updated_at = :when WHERE id = :id"),
            {"when": datetime(2020, 1, 1, tzinfo=UTC), "id": run_id},
        )

    assert backfiller.rollback(run_id)["conflict_count"] >= 1  # the changed workflow is kept
    assert backfiller.runs.get(run_id)["state"] == "completed"
    with pytest.raises(Conflict):
        backfiller.check_start(Options(), resume=run_id)


def test_a_run_reported_interrupted_while_it_still_writes_is_not_rolled_back_half(
    storage, engine, monkeypatch
):
    """Another process found the job's process silent: job and run are `interrupted` and
    a rollback starts while the job still runs. Its next batch is refused (the run is no
    longer `running`), so the rollback, which read the ledger first, never ends
    `rolled_back` with rows of the run left behind."""
    for _ in range(2):
        storage.in_memory("users").upsert(make_user())  # only in memory
    backfiller = Backfiller(storage)
    options = Options(repositories=("users",), batch_size=1)
    run_id = backfiller.start(options, actor="ops")

    undo = backfiller._undo
    ledger_read, finish_rollback = threading.Event(), threading.Event()

    def undo_later(*args, **kwargs):
        ledger_read.set()
        assert finish_rollback.wait(10)
        return undo(*args, **kwargs)

    monkeypatch.setattr(backfiller, "_undo", undo_later)
    rollback = threading.Thread(target=lambda: backfiller.rollback(run_id))

    def progress(repository, done, total):
        if done == 1:  # another process: the job is silent -> interrupted, rolled back
            backfiller.runs.interrupt(run_id)
            rollback.start()
            assert ledger_read.wait(10)
        elif done == 2:  # the next progress save finds the job fenced
            raise JobFenced("reported interrupted")

    with pytest.raises((JobFenced, Conflict)):  # its next batch is refused, or its save
        backfiller.confirm(options, "ops", progress, run_id=run_id)
    finish_rollback.set()
    rollback.join(10)

    with engine.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(UserModel)).scalar()
    state = backfiller.runs.get(run_id)["state"]
    assert not (state == "rolled_back" and left), f"{state} with {left} of its rows left"


def test_a_resumed_run_counts_what_it_wrote_once(storage, engine, monkeypatch):
    """A batch whose commit fails is not written and not counted: a resumed run, which
    carries the earlier counts over, ends with `written` equal to its ledger."""
    for _ in range(3):
        storage.in_memory("users").upsert(make_user())  # 4 users only in memory
    backfiller = Backfiller(storage)
    options = Options(repositories=("users",), batch_size=1)
    record_batch = backfiller.runs.record_batch
    calls = []

    def database_goes_away_at_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise StorageUnavailable("database", "connection reset")
        return record_batch(*args, **kwargs)

    monkeypatch.setattr(backfiller.runs, "record_batch", database_goes_away_at_the_second_batch)
    with pytest.raises(StorageUnavailable):
        backfiller.confirm(options, actor="ops")
    (run,) = backfiller.runs.list()
    monkeypatch.setattr(backfiller.runs, "record_batch", record_batch)

    resumed = backfiller.confirm(options, actor="ops", resume=run["id"])

    with engine.connect() as connection:
        ledger = connection.execute(
            sa.select(sa.func.count()).where(LedgerEntryModel.run_id == run["id"])
        ).scalar()
    assert ledger == 4
    assert resumed["written"]["users"] == ledger
