"""Concurrent requests on one adapter, on real SQLite and PostgreSQL: the adapter's record
locks and the database's row locks never wait for each other in a circle, related writes
reach the database in the order they committed, and no race loses an acknowledged write or
leaves the backends apart.

Each test stops one request at the moment that matters and runs another on a second
thread. Every wait is bounded: a test that would hang fails instead, and its teardown
breaks whatever is still stuck, so the next test starts clean."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests import databases
from tests.conftest import build_storage
from tests.factories import make_user, make_workflow
from wfplatform.domain.users import User
from wfplatform.errors import Conflict
from wfplatform.repositories.workflows import SqlWorkflowRepository, WorkflowQuery
from wfplatform.storage.adapter import Storage
from wfplatform.storage.locks import StripedLocks
from wfplatform.storage.modes import DATABASE, MEMORY

TIMEOUT = 5.0  # seconds: every step here takes milliseconds unless it is stuck

MEMORY_FIRST = [
    pytest.param(("memory-only", None), id="memory-only"),
    pytest.param(("dual", MEMORY), id="dual-read-memory"),
]
DATABASE_FIRST = [
    pytest.param(("database-only", None), id="database-only"),
    pytest.param(("dual", DATABASE), id="dual-read-database"),
]


# -- threads that cannot hang the suite -------------------------------------------------------
class Background:
    """A call on its own thread. `result()` waits at most TIMEOUT, then fails the test."""

    def __init__(self, name: str, call: Callable[[], Any]) -> None:
        self.name = name
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # handed to the test by result()
            self._error = exc

    def finished_within(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def result(self, timeout: float = TIMEOUT) -> Any:
        if not self.finished_within(timeout):
            pytest.fail(f"{self.name!r} still runs after {timeout} s: deadlocked")
        if self._error is not None:
            raise self._error
        return self._value


class Pause:
    """A point where one thread stops until the test lets it go."""

    def __init__(self) -> None:
        self._reached = threading.Event()
        self._released = threading.Event()

    def here(self) -> None:
        self._reached.set()
        if not self._released.wait(TIMEOUT):
            raise TimeoutError("the test never released this pause")

    def wait_reached(self) -> None:
        if not self._reached.wait(TIMEOUT):
            pytest.fail("the paused thread never reached its pause")

    def release(self) -> None:
        self._released.set()


class Threads:
    """Starts the test's threads and pauses; `stop()` unblocks all of them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._started: list[Background] = []
        self._pauses: list[Pause] = []

    def start(self, name: str, call: Callable[[], Any]) -> Background:
        self._started.append(Background(name, call))
        return self._started[-1]

    def pause(self) -> Pause:
        self._pauses.append(Pause())
        return self._pauses[-1]

    def stop(self) -> None:
        for pause in self._pauses:
            pause.release()
        deadline = time.monotonic() + 15  # SQLite gives up waiting for a lock after 10 s
        stuck = list(self._started)
        while stuck and time.monotonic() < deadline:
            cancel_lock_waits(self._engine)  # a deadlock the test found: break it
            stuck = [thread for thread in stuck if not thread.finished_within(0.2)]
        if stuck:
            pytest.fail(f"still stuck after the test: {[thread.name for thread in stuck]}")


@pytest.fixture
def threads(engine: Engine, make_storage) -> Iterator[Threads]:
    started = Threads(engine)
    yield started
    started.stop()  # before the storages close and the next test empties the tables


def cancel_lock_waits(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND pid <> pg_backend_pid()"
                )
            )


def wait_until_blocked_in_the_database(engine: Engine) -> None:
    """Until another session waits for a lock. PostgreSQL says so; SQLite, waiting in its
    busy handler, does not: a short pause lets the other thread get there."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        time.sleep(0.02)
    pytest.fail("no session ever waited for a lock: the race under test was not set up")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


def paused_unit_of_work(
    threads: Threads, storage: Storage, name: str, work: Callable[[Any], Any]
) -> tuple[Background, Pause]:
    """Run `work` in a unit of work on its own thread, stopped after its writes, before
    its commit (so a database-first one holds its row locks)."""
    pause = threads.pause()

    def body(uow) -> Any:
        result = work(uow)
        pause.here()
        return result

    started = threads.start(name, lambda: storage.atomic(body))
    pause.wait_reached()
    return started, pause


def pause_the_first_replication(storage: Storage, threads: Threads, monkeypatch) -> Pause:
    """The first dual write to replicate stops after its memory commit, before the
    database has it (as when the scheduler preempts it there)."""
    pause = threads.pause()
    original = storage.replicator.replicate
    paused: list[int] = []

    def replicate(changes, **options) -> bool:
        if not paused:
            paused.append(threading.get_ident())
            pause.here()
        return original(changes, **options)

    monkeypatch.setattr(storage.replicator, "replicate", replicate)
    return pause


def share_a_stripe(storage: Storage, *records: tuple[str, str]) -> bool:
    """Records on one lock stripe are written one after the other, whole commits apart:
    the interleavings under test need them on different stripes."""
    return len({storage.parts.locks._stripe(repository, key) for repository, key in records}) < len(
        records
    )


def owner_only_in_memory(make_storage) -> tuple[Storage, User]:
    """dual reading the database, with a user the backfill has not copied yet."""
    storage = make_storage("memory-only")
    owner = storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    storage.switch("dual", read_from=DATABASE, reason="before backfill", actor="ops", force=True)
    return storage, owner


def assert_written_through(storage: Storage) -> None:
    """No false outage, nothing left for later: both backends hold every write."""
    assert not storage.parts.health.is_down()
    assert len(storage.parts.journal) == 0
    assert storage.verify()["differences"] == 0


# -- no deadlock between record locks and row locks ------------------------------------------
def test_a_read_copying_a_parent_and_a_write_of_its_child_do_not_deadlock(
    make_storage, engine, threads
):
    """The read holds the parent's record lock while it copies the parent; the child's unit
    of work holds the database's lock on the parent row until it commits."""
    storage, owner = owner_only_in_memory(make_storage)
    storage.parts.locks = StripedLocks(stripes=1)  # every record on one lock: the worst case
    workflow = make_workflow(owner)
    writer, pause = paused_unit_of_work(
        threads, storage, "add a workflow", lambda uow: uow.workflows.add(workflow)
    )
    reader = threads.start("read its owner", lambda: storage.users.get(owner.id))
    wait_until_blocked_in_the_database(engine)

    pause.release()

    assert writer.result() == workflow
    assert reader.result() == owner
    assert storage.workflows.get(workflow.id) == workflow
    assert_written_through(storage)


def test_journal_replay_and_a_database_first_write_of_the_same_record_do_not_deadlock(
    make_storage, engine, threads
):
    """Replay holds the record's lock while it writes the row; the request holds the row's
    lock until it commits."""
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user(name="before"))
    writer, pause = paused_unit_of_work(
        threads,
        storage,
        "request",
        lambda uow: uow.users.update(dataclasses.replace(user, name="by the request")),
    )
    storage.parts.health.mark_down("server closed the connection")  # another request's fault
    journaled = dataclasses.replace(user, name="while the database was down")
    threads.start("journaled write", lambda: storage.users.update(journaled)).result()
    storage.parts.health.mark_up()
    replay = threads.start("journal replay", storage.replay_journal)
    wait_until_blocked_in_the_database(engine)

    pause.release()

    writer.result()
    assert replay.result()["error"] is None
    assert storage.users.get(user.id).name in {"by the request", journaled.name}
    assert_written_through(storage)


@pytest.fixture
def impatient_engine(database_url: str, engine: Engine) -> Iterator[Engine]:
    """The test database; on SQLite a writer waits 2 s for the write lock instead of 10 s,
    so a stall shows quickly (PostgreSQL's lock waits are cancelled by `threads`)."""
    if engine.dialect.name != "sqlite":
        yield engine
        return
    impatient = databases.create_engine(database_url)

    @event.listens_for(impatient, "connect")
    def _wait_two_seconds(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=2000")

    yield impatient
    impatient.dispose()


def test_a_unit_of_work_mixing_database_and_memory_first_writes_does_not_deadlock(
    impatient_engine, engine, tmp_path, threads
):
    """Workflows are cut over first (dual reading the database), users not yet (dual
    reading memory); one unit of work adds a workflow and renames its owner while another
    request renames the owner. The unit of work holds the owner row's lock in the database
    and the dual write holds the owner's record lock: the unit of work gives up waiting,
    rolls back and runs again, so both finish."""
    storage = build_storage(impatient_engine, tmp_path / "journal.log", "dual", read_from=MEMORY)
    try:
        owner = storage.users.add(make_user(name="before"))
        storage.switch(
            "dual", read_from=DATABASE, repositories=["workflows"], reason="first", actor="ops"
        )

        def add_and_rename(uow) -> None:
            uow.workflows.add(make_workflow(owner))
            uow.users.update(dataclasses.replace(owner, name="by the unit of work"))

        mixed, pause = paused_unit_of_work(threads, storage, "mixed unit of work", add_and_rename)
        renamed = dataclasses.replace(owner, name="by the dual write")
        dual = threads.start("dual write", lambda: storage.users.update(renamed))
        wait_until_blocked_in_the_database(engine)

        pause.release()

        mixed.result(timeout=2.0)
        dual.result(timeout=2.0)
        assert_written_through(storage)
    finally:
        threads.stop()  # before the storage closes
        storage.close()


# -- a database-first write and the journal -----------------------------------------------------
def test_replay_keeps_a_database_first_write_that_committed_after_a_journaled_one(
    make_storage, threads
):
    """A unit of work that started before a fault commits to the database after a write was
    journaled for the same record: replaying that older write must not undo it."""
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user(name="before"))
    slow, pause = paused_unit_of_work(
        threads,
        storage,
        "slow request",
        lambda uow: uow.users.update(dataclasses.replace(user, name="committed last")),
    )
    storage.parts.health.mark_down("server closed the connection")  # another request's fault
    journaled = dataclasses.replace(user, name="journaled first")
    threads.start("journaled write", lambda: storage.users.update(journaled)).result()
    pause.release()
    slow.result()
    storage.parts.health.mark_up()

    assert storage.replay_journal()["pending"] == 0

    assert storage.users.get(user.id).name == "committed last"
    assert_written_through(storage)


# -- related records reach the database in commit order ----------------------------------------
def test_a_workflow_and_then_its_owner_deleted_reach_the_database_in_that_order(
    make_storage, threads, monkeypatch
):
    """The owner's delete commits in memory while the workflow's delete has not reached the
    database yet: it must wait its turn (the database refuses it before)."""
    storage = make_storage("dual", read_from=MEMORY)
    owner = storage.users.add(make_user())
    workflow = make_workflow(owner)
    while share_a_stripe(storage, ("users", owner.id), ("workflows", workflow.id)):
        workflow = make_workflow(owner)
    storage.workflows.add(workflow)
    pause = pause_the_first_replication(storage, threads, monkeypatch)
    first = threads.start("delete the workflow", lambda: storage.workflows.delete(workflow.id))
    pause.wait_reached()
    second = threads.start("delete its owner", lambda: storage.users.delete(owner.id))
    wait_until(
        lambda: storage.in_memory("users").fetch(owner.id) is None,
        "the owner's delete committed in memory",
    )
    second.finished_within(0.3)  # time to reach the database, were it not waiting its turn

    pause.release()

    first.result()
    second.result()
    assert storage.parts.stats.snapshot("users")["secondary_conflicts"] == 0
    assert_written_through(storage)


def test_an_email_freed_and_then_taken_reaches_the_database_in_that_order(
    make_storage, threads, monkeypatch
):
    """A new user takes an email in memory while the change that freed it has not reached
    the database yet: the new user must wait its turn (the database refuses it before)."""
    storage = make_storage("dual", read_from=MEMORY)
    alice = storage.users.add(make_user(email="shared@example.com"))
    newcomer = make_user(email="shared@example.com")
    while share_a_stripe(storage, ("users", alice.id), ("users", newcomer.id)):
        newcomer = make_user(email="shared@example.com")
    pause = pause_the_first_replication(storage, threads, monkeypatch)
    moved = dataclasses.replace(alice, email="alice@example.com")
    first = threads.start("free the email", lambda: storage.users.update(moved))
    pause.wait_reached()
    second = threads.start("take the email", lambda: storage.users.add(newcomer))
    wait_until(
        lambda: storage.in_memory("users").get_by_email("shared@example.com") is not None,
        "the newcomer committed in memory",
    )
    second.finished_within(0.3)  # time to reach the database, were it not waiting its turn

    pause.release()

    first.result()
    assert second.result() == newcomer
    assert storage.users.get_by_email("shared@example.com") == newcomer
    assert storage.parts.stats.snapshot("users")["secondary_conflicts"] == 0
    assert_written_through(storage)


# -- a parent copied by two requests at once ----------------------------------------------------
def test_two_workflows_of_an_owner_missing_in_the_database_are_both_written(
    make_storage, engine, threads
):
    """Both units of work copy the owner first; the second waits for the first's copy and
    must then use it, not fail on it."""
    storage, owner = owner_only_in_memory(make_storage)
    first, pause = paused_unit_of_work(
        threads, storage, "first workflow", lambda uow: uow.workflows.add(make_workflow(owner))
    )
    second = threads.start("second workflow", lambda: storage.workflows.add(make_workflow(owner)))
    wait_until_blocked_in_the_database(engine)

    pause.release()

    written = {first.result().id, second.result().id}
    listed = storage.workflows.list(WorkflowQuery(user_id=owner.id)).items
    assert {workflow.id for workflow in listed} == written
    assert storage.parts.stats.snapshot("users")["lazy_synced"] == 1  # one copy, not two
    assert_written_through(storage)


def test_a_read_of_an_owner_another_request_is_copying_answers(make_storage, engine, threads):
    """The read's lazy sync copies the owner while a workflow's unit of work has copied it
    but not committed yet."""
    storage, owner = owner_only_in_memory(make_storage)
    writer, pause = paused_unit_of_work(
        threads, storage, "add a workflow", lambda uow: uow.workflows.add(make_workflow(owner))
    )
    reader = threads.start("read the owner", lambda: storage.users.get(owner.id))
    wait_until_blocked_in_the_database(engine)

    pause.release()

    writer.result()
    assert reader.result() == owner
    assert_written_through(storage)


# -- memory commits re-check what they staged ---------------------------------------------------
@pytest.mark.parametrize("mode", MEMORY_FIRST)
def test_a_workflow_staged_while_its_owner_is_deleted_is_refused(make_storage, threads, mode):
    """The owner had no workflow when it was deleted; the workflow staged before that must
    not commit without its owner."""
    storage = make_storage(mode[0], read_from=mode[1])
    owner = storage.users.add(make_user())
    workflow = make_workflow(owner)
    adding, pause = paused_unit_of_work(
        threads, storage, "add a workflow", lambda uow: uow.workflows.add(workflow)
    )
    threads.start("delete its owner", lambda: storage.users.delete(owner.id)).result()

    pause.release()

    with pytest.raises(Conflict):
        adding.result()
    assert storage.workflows.get(workflow.id) is None
    assert storage.users.get(owner.id) is None
    if mode[0] == "dual":
        assert_written_through(storage)


@pytest.mark.parametrize("mode", MEMORY_FIRST)
def test_of_two_memory_updates_from_one_version_the_later_commit_is_refused(
    make_storage, threads, mode
):
    """Both updates expect version 1; the one that commits second would overwrite the
    other unseen."""
    storage = make_storage(mode[0], read_from=mode[1])
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    slow, pause = paused_unit_of_work(
        threads,
        storage,
        "slow update",
        lambda uow: uow.workflows.update(
            dataclasses.replace(workflow, name="slow"), expected_version=1
        ),
    )
    fast = dataclasses.replace(workflow, name="fast")
    threads.start(
        "fast update", lambda: storage.workflows.update(fast, expected_version=1)
    ).result()

    pause.release()

    with pytest.raises(Conflict):
        slow.result()
    stored = storage.workflows.get(workflow.id)
    assert (stored.name, stored.version) == ("fast", 2)
    if mode[0] == "dual":
        assert_written_through(storage)


# Where the SQL repository may be preempted between reading a workflow's version and
# writing it: after `update` checked `expected_version`, and after `_replace` re-read the row.
PREEMPTION_POINTS = [
    pytest.param("_replace", id="after-the-version-check"),
    pytest.param("_prepare", id="right-before-the-update-statement"),
]


def pause_the_slow_update(threads: Threads, monkeypatch, method: str) -> Pause:
    """The thread named "slow update" stops on entering `SqlWorkflowRepository.<method>`."""
    pause = threads.pause()
    original = getattr(SqlWorkflowRepository, method)

    def paused(self, record) -> None:
        if threading.current_thread().name == "slow update":
            pause.here()
        original(self, record)

    monkeypatch.setattr(SqlWorkflowRepository, method, paused)
    return pause


def start_two_updates_from_version_1(
    storage: Storage, threads: Threads, monkeypatch, preempted_in: str = "_replace"
):
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    pause = pause_the_slow_update(threads, monkeypatch, preempted_in)
    slow = threads.start(
        "slow update",
        lambda: storage.workflows.update(
            dataclasses.replace(workflow, name="slow"), expected_version=1
        ),
    )
    pause.wait_reached()
    fast = threads.start(
        "fast update",
        lambda: storage.workflows.update(
            dataclasses.replace(workflow, name="fast"), expected_version=1
        ),
    )
    return workflow, slow, fast, pause


@pytest.mark.parametrize("preempted_in", PREEMPTION_POINTS)
@pytest.mark.parametrize("mode", DATABASE_FIRST)
def test_of_two_database_updates_from_one_version_the_later_commit_is_refused(
    make_storage, engine, threads, monkeypatch, mode, preempted_in
):
    """The fast update commits between the slow one's reading of the version and its
    UPDATE: the slow one must not overwrite it unseen."""
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "SQLite runs one writer at a time (BEGIN IMMEDIATE), so no update commits between "
            "another's version check and its UPDATE; see the SQLite test below"
        )
    storage = make_storage(mode[0], read_from=mode[1])
    workflow, slow, fast, pause = start_two_updates_from_version_1(
        storage, threads, monkeypatch, preempted_in
    )
    assert fast.result().version == 2

    pause.release()

    with pytest.raises(Conflict):
        slow.result()
    stored = storage.workflows.get(workflow.id)
    assert (stored.name, stored.version) == ("fast", 2)
    if mode[0] == "dual":
        assert_written_through(storage)


@pytest.mark.parametrize("mode", DATABASE_FIRST)
def test_sqlite_lets_no_update_in_between_another_ones_version_check_and_its_write(
    make_storage, engine, threads, monkeypatch, mode
):
    """SQLite serializes writers: the fast update waits for the slow one, then sees that
    version 1 is gone."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL runs writers concurrently; see the test above")
    storage = make_storage(mode[0], read_from=mode[1])
    workflow, slow, fast, pause = start_two_updates_from_version_1(storage, threads, monkeypatch)
    assert not fast.finished_within(0.3), "a second writer ran beside the first"

    pause.release()

    assert slow.result().version == 2
    with pytest.raises(Conflict) as refused:
        fast.result()
    assert refused.value.details == {"expected_version": 1, "current_version": 2}
    stored = storage.workflows.get(workflow.id)
    assert (stored.name, stored.version) == ("slow", 2)
    if mode[0] == "dual":
        assert_written_through(storage)
