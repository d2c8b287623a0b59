"""Dual mode as an operator relies on it: parents first, lazy sync, shadow reads and a
complete verify, on real SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from tests.factories import make_user, make_workflow
from wfplatform.backends.sql import new_session
from wfplatform.errors import Conflict
from wfplatform.models import UserModel
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.modes import DATABASE, MEMORY

SECRET = "argon2-secret-hash-do-not-log"


def change_behind_the_adapters_back(engine, user_id: str, **values) -> None:
    with engine.begin() as connection:
        connection.execute(sa.update(UserModel).where(UserModel.id == user_id).values(**values))


def store_in_the_database_only(storage, user) -> None:
    """A row memory does not have, as an earlier, abandoned cut-over may leave behind."""
    with new_session(storage.parts.engine) as session:
        storage.parts.bindings["users"].sql(session).upsert(user)
        session.commit()


def test_a_child_written_in_dual_brings_its_memory_only_parent_along(make_storage):
    storage = make_storage("memory-only")
    owner = storage.users.add(make_user())
    storage.switch("dual", reason="start the cut-over", actor="ops")

    workflow = storage.workflows.add(make_workflow(owner))

    report = storage.verify()
    assert report["repositories"]["users"]["counts"]["only_in_memory"] == 0
    assert report["repositories"]["workflows"]["differences"] == 0
    assert storage.parts.stats.snapshot("users")["lazy_synced"] == 1
    assert storage.workflows.get(workflow.id) == workflow


def test_reading_the_database_copies_a_record_found_only_in_memory(make_storage):
    storage = make_storage("memory-only")
    user = storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    storage.switch("dual", read_from=DATABASE, reason="try reads", actor="ops", force=True)

    assert storage.users.get(user.id) == user

    assert storage.parts.stats.snapshot("users")["lazy_synced"] == 1
    assert storage.verify()["differences"] == 0


def test_verify_lists_what_differs_and_where(make_storage, engine):
    storage = make_storage("memory-only")
    only_memory = storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    changed = storage.users.add(make_user())
    change_behind_the_adapters_back(engine, changed.id, name="edited in SQL")

    report = storage.verify(["users"])["repositories"]["users"]

    assert report["only_in_memory"] == [only_memory.id]
    assert report["differing"] == [changed.id]
    assert report["counts"] == {"only_in_memory": 1, "only_in_database": 0, "differing": 1}


def test_a_dual_write_the_database_refuses_is_reported_as_divergence(make_storage, caplog):
    """Memory committed it, so the write is acknowledged; the database's refusal is counted
    and shown by verify, never raised as a crash nor logged with the record's values."""
    caplog.set_level(logging.INFO)
    storage = make_storage("dual", read_from=MEMORY)
    leftover = make_user(email="taken@example.com")
    store_in_the_database_only(storage, leftover)

    user = storage.users.add(make_user(email="taken@example.com", password_hash=SECRET))

    stats = storage.parts.stats.snapshot("users")
    assert stats["secondary_conflicts"] == 1
    report = storage.verify(["users"])["repositories"]["users"]
    assert (report["only_in_memory"], report["only_in_database"]) == ([user.id], [leftover.id])
    assert storage.users.get(user.id) == user
    assert SECRET not in repr(stats) + caplog.text


def test_replay_sets_a_refused_entry_aside_and_replays_the_rest(make_storage, caplog):
    caplog.set_level(logging.INFO)
    storage = make_storage("dual", read_from=DATABASE)
    leftover = make_user(email="taken@example.com")
    store_in_the_database_only(storage, leftover)
    storage.parts.health.mark_down("connection refused")  # writes go to memory and the journal
    refused = storage.users.add(make_user(email="taken@example.com", password_hash=SECRET))
    later = storage.users.add(make_user())
    storage.parts.health.mark_up()

    assert storage.replay_journal() == {"replayed": 2, "pending": 0, "error": None}

    report = storage.verify(["users"])["repositories"]["users"]
    assert (report["only_in_memory"], report["only_in_database"]) == ([refused.id], [leftover.id])
    assert storage.parts.stats.snapshot("users")["secondary_conflicts"] == 1
    assert storage.users.get(later.id) == later
    assert SECRET not in caplog.text


class TestShadowReads:
    def test_counts_mismatches_without_revealing_values(self, make_storage, engine):
        storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
        user = storage.users.add(make_user(password_hash="secret-hash-value"))
        change_behind_the_adapters_back(engine, user.id, password_hash="other-secret-value")

        assert storage.users.get(user.id) == user
        storage.parts.shadow.drain()

        stats = storage.parts.stats.snapshot("users")
        assert stats["shadow_compares"] == 1
        assert stats["mismatches"] == 1
        sample = stats["mismatch_samples"][0]
        assert sample["ids"] == [user.id]
        assert sample["fields"] == ["password_hash"]
        assert "secret" not in repr(stats)

    def test_equal_answers_are_not_mismatches(self, make_storage):
        storage = make_storage("dual", read_from=DATABASE, shadow_rate=1.0)
        user = storage.users.add(make_user())
        storage.workflows.add(make_workflow(user))
        storage.users.get(user.id)
        storage.workflows.list(WorkflowQuery(user_id=user.id))
        storage.parts.shadow.drain()
        stats = storage.parts.stats.snapshot("users")
        assert stats["shadow_compares"] == 1
        assert stats["mismatches"] == 0
        assert storage.parts.stats.snapshot("workflows")["mismatches"] == 0

    def test_a_write_racing_the_comparison_is_skipped_not_reported(self, make_storage):
        storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
        user = storage.users.add(make_user(name="before"))
        worker_busy = threading.Event()
        storage.parts.shadow.submit(worker_busy.wait)  # hold the worker so the write lands first

        storage.users.get(user.id)  # primary answers "before"
        storage.users.update(dataclasses.replace(user, name="after"))
        worker_busy.set()
        storage.parts.shadow.drain()

        stats = storage.parts.stats.snapshot("users")
        assert stats["mismatches"] == 0
        assert stats["shadow_skipped"] == 1

    def test_a_write_to_another_record_does_not_stop_the_comparison(self, make_storage):
        """A read by key is raced only by writes to that record (fixed ids: their stripes
        differ, so the outcome does not depend on chance)."""
        storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
        user = storage.users.add(make_user(id="00000000-0000-4000-8000-000000000001"))
        other = storage.users.add(make_user(id="00000000-0000-4000-8000-000000000002"))
        worker_busy = threading.Event()
        storage.parts.shadow.submit(worker_busy.wait)

        storage.users.get(user.id)
        storage.users.update(dataclasses.replace(other, name="after"))
        storage.users.list()  # a list is raced by any write: compared only when quiet
        worker_busy.set()
        storage.parts.shadow.drain()

        stats = storage.parts.stats.snapshot("users")
        assert (stats["shadow_compares"], stats["mismatches"]) == (2, 0)

    def test_a_record_not_backfilled_yet_is_missing_not_a_mismatch(self, make_storage):
        """Right after the switch to dual, memory holds records the database has not got
        yet: the backfill's job, counted apart (verify and the guards see them too)."""
        storage = make_storage("memory-only")
        user = storage.users.add(make_user())
        storage.switch("dual", reason="cut-over", actor="ops", shadow_rate=1.0)

        assert storage.users.get(user.id) == user
        storage.parts.shadow.drain()

        stats = storage.parts.stats.snapshot("users")
        assert (stats["shadow_missing"], stats["mismatches"]) == (1, 0)
        assert storage.readiness("users")["only_in_memory"] == 1

    def test_a_change_made_outside_units_of_work_racing_the_comparison_is_skipped(
        self, make_storage, engine
    ):
        """Load-memory, replays, backfills, rollbacks and repairs mark their records as
        changing too: a comparison they race is skipped, not counted as a mismatch."""
        storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
        user = storage.users.add(make_user(name="before"))
        worker_busy = threading.Event()
        storage.parts.shadow.submit(worker_busy.wait)

        storage.users.get(user.id)  # memory answers "before"
        change_behind_the_adapters_back(engine, user.id, name="loaded")
        assert storage.load_memory("users") == 1  # memory takes "loaded" meanwhile
        worker_busy.set()
        storage.parts.shadow.drain()

        stats = storage.parts.stats.snapshot("users")
        assert (stats["shadow_skipped"], stats["mismatches"]) == (1, 0)

    def test_a_full_queue_drops_samples_instead_of_waiting(self, make_storage):
        storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0, shadow_capacity=1)
        user = storage.users.add(make_user())
        release = threading.Event()
        storage.parts.shadow.submit(release.wait)  # the worker is busy with this one
        storage.parts.shadow.submit(lambda: None)  # and this one fills the queue

        for _ in range(3):
            assert storage.users.get(user.id) == user

        release.set()
        storage.parts.shadow.drain()
        assert storage.parts.stats.snapshot("users")["shadow_dropped"] == 3

    def test_never_run_outside_dual(self, make_storage):
        storage = make_storage("database-only", shadow_rate=1.0)
        user = storage.users.add(make_user())
        storage.users.get(user.id)
        storage.parts.shadow.drain()
        assert storage.parts.stats.snapshot("users")["shadow_compares"] == 0


def rename_with_workflow(uow, user, name: str) -> None:
    """A unit of work touching two records that other threads touch too."""
    uow.users.update(dataclasses.replace(uow.users.get(user.id), name=name.upper()))
    workflow = uow.workflows.list(WorkflowQuery(user_id=user.id)).items[0]
    uow.workflows.update(dataclasses.replace(workflow, description=name))


@pytest.mark.parametrize("read_from", [MEMORY, DATABASE])
def test_concurrent_updates_leave_both_backends_equal_and_lose_no_update(make_storage, read_from):
    storage = make_storage("dual", read_from=read_from)
    users = [storage.users.add(make_user()) for _ in range(3)]
    workflows = {user.id: storage.workflows.add(make_workflow(user)) for user in users}
    errors: list[BaseException] = []
    committed = Counter()

    def hammer(worker: int) -> None:
        try:
            for round_ in range(15):
                for user in users:
                    name = f"worker {worker} round {round_}"
                    storage.users.update(dataclasses.replace(user, name=name))
                    try:
                        storage.atomic(lambda uow, u=user, n=name: rename_with_workflow(uow, u, n))
                    except Conflict:
                        continue  # a versioned workflow changed meanwhile: the right answer
                    committed[user.id] += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert storage.verify()["differences"] == 0
    for user in users:  # every committed update counted once: none was lost
        stored = storage.workflows.get(workflows[user.id].id)
        assert stored.version == 1 + committed[user.id]
