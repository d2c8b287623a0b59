"""Fault tests: the database stops (an immediate stop, like a crash) and comes back.

Each test runs against a private throwaway PostgreSQL cluster (tests/cluster.py), never the
machine's shared server, in a fresh database with the schema created. Modes live in the
database's control tables, so every storage is built while the cluster is up; then the test
stops it. What is asserted is what a user of the storage sees: which writes are acknowledged,
what reads return, what the database holds once it is back, and the counters operators watch.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import wfplatform.models  # noqa: F401 (registers the tables)
from tests import databases
from tests.apps import close_app
from tests.cluster import PostgresCluster
from tests.conftest import build_storage
from tests.factories import make_user, make_workflow
from wfplatform.backends.sql import new_session, reading_engine
from wfplatform.domain.codec import to_dict
from wfplatform.errors import GuardRefused, StorageUnavailable
from wfplatform.extensions import db
from wfplatform.repositories import BY_NAME
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.adapter import Storage
from wfplatform.storage.journal import Change
from wfplatform.storage.modes import DATABASE, MEMORY, RepositoryMode

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
RETRY_AFTER = 0.2  # the circuit breaker's pause after a fault
NAMES = ("users", "workflows")


# -- fixtures ---------------------------------------------------------------------------------
@dataclasses.dataclass
class FaultBed:
    """One fresh database on the private cluster, and the storages built on it."""

    cluster: PostgresCluster
    url: str
    engine: Engine
    tmp_path: Path
    built: list[Storage] = dataclasses.field(default_factory=list)

    @property
    def journal_path(self) -> Path:
        return self.tmp_path / "sync-journal.log"

    def storage(self, mode: str, **kw: Any) -> Storage:
        """A storage on this database (build it while the cluster runs: modes load from it),
        with its reading pool as the app has it."""
        kw.setdefault("retry_after", RETRY_AFTER)
        kw.setdefault("reading_engine", reading_engine(self.url))
        journal = kw.pop("journal_path", self.journal_path)
        storage = build_storage(self.engine, journal, mode, **kw)
        self.built.append(storage)
        return storage

    def restart_as_new_process(self) -> None:
        """Start the cluster, as a freshly started process finds it: no pooled connections."""
        self.cluster.start()
        self.engine.dispose()

    def close(self, storage: Storage) -> None:
        """Close one storage now (the process that owned it is gone)."""
        self.built.remove(storage)
        storage.close()


@pytest.fixture
def bed(cluster: PostgresCluster, tmp_path: Path) -> Iterator[FaultBed]:
    with cluster.temporary_database() as url:  # starts the cluster again if a test stopped it
        engine = databases.create_engine(url)
        db.metadata.create_all(engine)
        fault_bed = FaultBed(cluster, url, engine, tmp_path)
        try:
            yield fault_bed
        finally:
            for storage in fault_bed.built:
                storage.close()
            engine.dispose()


# -- helpers ----------------------------------------------------------------------------------
class Acknowledged:
    """The final state of every record whose write was acknowledged (None: removed)."""

    def __init__(self) -> None:
        self._state: dict[str, dict[str, dict | None]] = {name: {} for name in NAMES}

    def put(self, repository: str, record: Any) -> Any:
        self._state[repository][record.id] = to_dict(record)
        return record

    def removed(self, repository: str, key: str) -> None:
        self._state[repository][key] = None

    def expected(self, repository: str) -> dict[str, dict]:
        return {key: data for key, data in self._state[repository].items() if data is not None}


def database_state(engine: Engine, repository: str) -> dict[str, dict]:
    with new_session(engine) as session:
        return {r.id: to_dict(r) for r in BY_NAME[repository].sql(session).iter_all()}


def memory_state(storage: Storage, repository: str) -> dict[str, dict]:
    return {r.id: to_dict(r) for r in storage.in_memory(repository).iter_all()}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.02)


def wait_for_breaker(storage: Storage) -> None:
    """After the database is back, the circuit breaker lets operations through again."""
    wait_until(
        lambda: not storage.parts.health.is_down(), timeout=5 * RETRY_AFTER + 1, what="breaker"
    )


@dataclasses.dataclass
class Seed:
    users: list[Any]
    workflows: list[Any]


def seed(storage: Storage, acked: Acknowledged) -> Seed:
    """Three users and two workflows, written while the database is up."""
    users = [acked.put("users", storage.users.add(make_user())) for _ in range(3)]
    workflows = [
        acked.put("workflows", storage.workflows.add(make_workflow(user))) for user in users[:2]
    ]
    return Seed(users, workflows)


OUTAGE_UNITS = 7  # units of work `write_through_outage` runs: one journal entry each
OUTAGE_CHANGES = {"users": 5, "workflows": 4}  # the records they change


def write_through_outage(storage: Storage, seeded: Seed, acked: Acknowledged) -> None:
    """Creates, updates, deletes and one multi-record unit of work; each must be acknowledged."""
    (u1, u2, u3), (w1, w2) = seeded.users, seeded.workflows
    u4 = acked.put("users", storage.users.add(make_user()))
    acked.put("users", storage.users.update(dataclasses.replace(u1, name="Renamed in outage")))
    storage.users.delete(u3.id)
    acked.removed("users", u3.id)
    acked.put("workflows", storage.workflows.add(make_workflow(u4)))
    edited = dataclasses.replace(w1, name="Edited in outage")
    acked.put("workflows", storage.workflows.update(edited, expected_version=1))
    storage.workflows.delete(w2.id)
    acked.removed("workflows", w2.id)

    u5 = make_user()
    w5 = make_workflow(u5)
    u2_renamed = dataclasses.replace(u2, name="Renamed with a new workflow")

    def onboard(uow) -> tuple:
        return uow.users.add(u5), uow.workflows.add(w5), uow.users.update(u2_renamed)

    added_user, added_workflow, updated_user = storage.atomic(onboard)
    acked.put("users", added_user)
    acked.put("workflows", added_workflow)
    acked.put("users", updated_user)


def assert_backends_converged(storage: Storage, engine: Engine, acked: Acknowledged) -> None:
    """Verify finds nothing, and the database holds exactly every acknowledged final state."""
    report = storage.verify()
    assert report["differences"] == 0, report
    for name in NAMES:
        assert database_state(engine, name) == acked.expected(name)
    assert len(storage.parts.journal) == 0
    assert storage.parts.journal.path.stat().st_size == 0


def assert_acknowledged_in_memory_and_journaled(
    storage: Storage, acked: Acknowledged, entries_before: int
) -> None:
    for name in NAMES:
        assert memory_state(storage, name) == acked.expected(name)
        assert storage.parts.stats.snapshot(name)["journaled"] == OUTAGE_CHANGES[name]
    assert len(storage.parts.journal) == entries_before + OUTAGE_UNITS


def stats(storage: Storage, repository: str, backend: str = DATABASE) -> dict:
    return storage.parts.stats.snapshot(repository)["backends"][backend]


# -- dual reading memory: the database is the secondary ------------------------------------------
def test_dual_reading_memory_acknowledges_writes_during_an_outage_and_replays_them(bed):
    storage = bed.storage("dual", read_from="memory")
    acked = Acknowledged()
    seeded = seed(storage, acked)
    assert len(storage.parts.journal) == 0
    assert database_state(bed.engine, "users") == acked.expected("users")

    bed.cluster.stop()
    write_through_outage(storage, seeded, acked)

    assert_acknowledged_in_memory_and_journaled(storage, acked, entries_before=0)
    assert stats(storage, "users")["errors"] >= 1  # the fault that opened the breaker
    assert storage.users.get(seeded.users[0].id).name == "Renamed in outage"  # from memory
    assert storage.users.get(seeded.users[2].id) is None
    with pytest.raises(StorageUnavailable):
        storage.verify()  # nothing pretends the database answered

    bed.cluster.start()
    result = storage.replay_journal()

    assert result == {"replayed": OUTAGE_UNITS, "pending": 0, "error": None}
    for name in NAMES:
        assert storage.parts.stats.snapshot(name)["replayed"] == OUTAGE_CHANGES[name]
    assert_backends_converged(storage, bed.engine, acked)

    later = acked.put("users", storage.users.add(make_user()))  # straight through again
    assert len(storage.parts.journal) == 0
    assert database_state(bed.engine, "users")[later.id] == to_dict(later)


@pytest.mark.parametrize("mode", ["database-only", "dual"])
def test_reads_after_the_database_restarted_are_answered_by_the_database(bed, mode):
    """The reading pool pings no connection before using it: a read on one the restart
    dropped runs again on a new connection instead of failing or falling back."""
    storage = bed.storage(mode, read_from="database" if mode == "dual" else None)
    user = storage.users.add(make_user())
    assert storage.users.get(user.id) == user  # the reading pool now holds a connection

    bed.cluster.restart()

    assert storage.users.get(user.id) == user
    counts = stats(storage, "users")
    assert (counts["errors"], counts["fallbacks"]) == (0, 0), counts
    assert storage.users.get(user.id) == user


def test_dual_reading_memory_sync_worker_replays_by_itself_once_the_database_is_back(bed):
    storage = bed.storage("dual", read_from="memory", sync_interval=0.05)
    storage.start()
    acked = Acknowledged()
    seeded = seed(storage, acked)

    bed.cluster.stop()
    write_through_outage(storage, seeded, acked)
    time.sleep(4 * RETRY_AFTER)  # the worker retries meanwhile, and must keep every entry

    assert_acknowledged_in_memory_and_journaled(storage, acked, entries_before=0)

    bed.cluster.start()
    wait_until(lambda: len(storage.parts.journal) == 0, timeout=8, what="the worker to replay")

    for name in NAMES:
        assert storage.parts.stats.snapshot(name)["replayed"] == OUTAGE_CHANGES[name]
    assert_backends_converged(storage, bed.engine, acked)


def test_dual_reading_memory_queues_writes_behind_the_journal_until_it_is_replayed(bed):
    storage = bed.storage("dual", read_from="memory")
    acked = Acknowledged()
    user = acked.put("users", storage.users.add(make_user()))

    bed.cluster.stop()
    acked.put("users", storage.users.update(dataclasses.replace(user, name="During")))
    bed.cluster.start()
    wait_for_breaker(storage)
    acked.put("users", storage.users.update(dataclasses.replace(user, name="After")))

    assert len(storage.parts.journal) == 2  # behind the outage's entry, not ahead of it
    assert database_state(bed.engine, "users")[user.id]["name"] == user.name
    assert storage.replay_journal()["replayed"] == 2
    assert database_state(bed.engine, "users")[user.id]["name"] == "After"
    assert_backends_converged(storage, bed.engine, acked)


def test_a_replay_that_meets_an_outage_counts_a_database_error(bed):
    """An outage only the background replay meets (writes already queue behind the
    journal) is still an error operators see."""
    storage = bed.storage("dual", read_from="memory")
    bed.cluster.stop()
    storage.users.add(make_user())  # journaled: the fault is counted once
    errors = stats(storage, "users")["errors"]

    result = storage.replay_journal()

    assert result["replayed"] == 0 and result["pending"] == 1
    assert stats(storage, "users")["errors"] == errors + 1
    assert storage.parts.stats.recent("users")["errors"] >= 2  # the guards' window sees it too


# -- database-only: no fallback, no silent loss ----------------------------------------------------
@pytest.mark.parametrize("setting", ["database-only", "dual-reading-database-without-fallback"])
def test_refuses_reads_and_writes_while_the_database_is_down_when_it_may_not_fall_back(
    bed, setting
):
    if setting == "database-only":
        storage = bed.storage("database-only")
    else:
        storage = bed.storage("dual", read_from="database")
        storage.switch("dual", read_from="database", fallback=False, reason="test", actor="t")
    acked = Acknowledged()
    seeded = seed(storage, acked)
    user = seeded.users[0]
    refused = make_user()
    memory_before = memory_state(storage, "users")

    bed.cluster.stop()
    with pytest.raises(StorageUnavailable):
        storage.users.get(user.id)
    with pytest.raises(StorageUnavailable):
        storage.workflows.list(WorkflowQuery(user_id=user.id))
    with pytest.raises(StorageUnavailable):
        storage.users.add(refused)
    with pytest.raises(StorageUnavailable):
        storage.users.update(dataclasses.replace(user, name="Never stored"))
    with pytest.raises(StorageUnavailable):
        storage.atomic(lambda uow: (uow.users.add(make_user()), uow.users.delete(user.id)))

    # Refused, not parked somewhere: no journal, memory untouched, errors counted.
    assert len(storage.parts.journal) == 0
    assert memory_state(storage, "users") == memory_before
    assert stats(storage, "users")["errors"] >= 1
    assert stats(storage, "users")["fallbacks"] == 0

    bed.cluster.start()
    wait_for_breaker(storage)
    assert storage.users.get(user.id) == user
    assert storage.users.get(refused.id) is None
    later = acked.put("users", storage.users.add(make_user()))
    assert storage.users.get(later.id) == later
    for name in NAMES:
        assert database_state(bed.engine, name) == acked.expected(name)


def app_on(bed, tmp_path, mode: str, read_from: str | None = None):
    """An app on the test bed's cluster (storage not started), with cheap password hashing."""
    from wfplatform import create_app
    from wfplatform.storage.modes import RepositoryMode

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": bed.url,
            "WF_STORAGE_DEFAULT": RepositoryMode.of(mode, read_from),
            "WF_JOURNAL_PATH": str(bed.journal_path),
            "WF_DB_RETRY_AFTER": RETRY_AFTER,
            "WF_START_STORAGE": False,
            "WF_PASSWORD_TIME_COST": 1,
            "WF_PASSWORD_MEMORY_KIB": 1024,
        },
        instance_path=str(tmp_path / "instance"),
    )


def test_http_answers_503_and_readiness_says_why_while_the_database_is_down(bed, tmp_path):
    from wfplatform.bootstrap import get_storage

    app = app_on(bed, tmp_path, "database-only")
    client = app.test_client()
    credentials = {"email": "outage@example.com", "password": "correct horse"}
    try:
        assert client.post("/api/auth/register", json=credentials).status_code == 201
        assert client.get("/health/ready").json["status"] == "ready"
        bed.cluster.stop()
        response = client.post("/api/auth/login", json=credentials)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json["error"]["code"] == "storage_unavailable"
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json["status"] == "not_ready"
        assert "users" in ready.json["failing"]
        assert ready.json["database"]["reachable"] is False
        assert client.get("/health").status_code == 200  # alive, just not ready
        bed.cluster.start()
        wait_for_breaker(get_storage(app))
        assert client.post("/api/auth/login", json=credentials).status_code == 200
        assert client.get("/health/ready").json["status"] == "ready"
    finally:
        close_app(app)


# -- switching while the database is down ------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "target"),
    [
        (("memory-only", None), ("dual", MEMORY)),
        (("database-only", None), ("dual", DATABASE)),
        (("dual", MEMORY), ("dual", DATABASE)),
    ],
    ids=["to dual (compares nothing)", "back to dual (compares nothing)", "reads to the database"],
)
def test_a_step_into_a_mode_using_the_database_is_refused_while_it_is_down(bed, start, target):
    """A step whose guards compare nothing still asks the database: a mode using it must
    not be entered while it does not answer, nor may a step that compares."""
    storage = bed.storage(start[0], read_from=start[1])
    bed.cluster.stop()
    with pytest.raises(GuardRefused) as refused:
        storage.switch(target[0], read_from=target[1], reason="test", actor="ops")
    reasons = refused.value.details["refused"]["users"]
    assert any(reason.startswith("the database does not answer") for reason in reasons), reasons
    assert storage.parts.modes.get("users").label() == RepositoryMode.of(*start).label()


# -- dual reading the database: memory is the fallback -----------------------------------------
def test_dual_reading_database_falls_back_to_memory_and_journals_during_an_outage(bed):
    storage = bed.storage("dual", read_from="database")
    acked = Acknowledged()
    seeded = seed(storage, acked)
    database_reads = stats(storage, "users")["reads"]

    bed.cluster.stop()
    assert storage.users.get(seeded.users[0].id) == seeded.users[0]  # served from memory
    assert stats(storage, "users")["fallbacks"] >= 1
    assert stats(storage, "users")["errors"] >= 1
    write_through_outage(storage, seeded, acked)
    assert storage.users.get(seeded.users[0].id).name == "Renamed in outage"
    assert storage.users.get(seeded.users[2].id) is None

    assert_acknowledged_in_memory_and_journaled(storage, acked, entries_before=0)
    assert stats(storage, "users")["reads"] == database_reads  # none answered by the database
    assert stats(storage, "users", MEMORY)["reads"] >= 3

    bed.cluster.start()
    result = storage.replay_journal()

    assert result == {"replayed": OUTAGE_UNITS, "pending": 0, "error": None}
    assert_backends_converged(storage, bed.engine, acked)
    wait_for_breaker(storage)
    assert storage.users.get(seeded.users[0].id).name == "Renamed in outage"
    assert stats(storage, "users")["reads"] == database_reads + 1  # the database answers again


def test_dual_reading_database_keeps_writes_made_after_recovery_but_before_replay(bed):
    storage = bed.storage("dual", read_from="database")
    acked = Acknowledged()
    user = acked.put("users", storage.users.add(make_user()))
    gone = acked.put("users", storage.users.add(make_user()))

    bed.cluster.stop()
    acked.put("users", storage.users.update(dataclasses.replace(user, name="During")))
    storage.users.delete(gone.id)
    acked.removed("users", gone.id)
    bed.cluster.start()
    wait_for_breaker(storage)

    # The database is back but behind: reads must not go back in time...
    assert storage.users.get(user.id).name == "During"
    assert storage.users.get(gone.id) is None
    # ...and a write now must not be overwritten by the older journaled state.
    acked.put("users", storage.users.update(dataclasses.replace(user, name="After")))
    storage.replay_journal()

    assert storage.users.get(user.id).name == "After"
    assert_backends_converged(storage, bed.engine, acked)


# -- the process dies while the journal holds writes -------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys

    from tests import databases
    from tests.conftest import build_storage
    from tests.factories import make_user, make_workflow

    url, journal = sys.argv[1], sys.argv[2]
    engine = databases.create_engine(url)
    storage = build_storage(engine, journal, "dual", read_from="memory", retry_after=0.2)
    storage.users.add(make_user())  # one write while the database is up
    print("ready", flush=True)
    sys.stdin.readline()  # the parent has stopped the database
    for _ in range(100_000):
        user = make_user()
        workflow = make_workflow(user)
        storage.atomic(lambda uow, u=user, w=workflow: (uow.users.add(u), uow.workflows.add(w)))
        print("acked", user.id, workflow.id, flush=True)
    """
)


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _next_line(lines: queue.Queue, child: subprocess.Popen, stderr: Path) -> str:
    try:
        line = lines.get(timeout=20)
    except queue.Empty:
        line = None
    if line is None:
        pytest.fail(f"the child stopped early ({child.poll()}):\n{stderr.read_text()[-3000:]}")
    return line


def run_child_until_killed(bed: FaultBed, acknowledgements: int) -> set[tuple[str, str]]:
    """Start a writer process, stop the database under it, SIGKILL it after some acks.

    Returns every (user id, workflow id) the child acknowledged before it died."""
    stderr_path = bed.tmp_path / "child.stderr"
    with open(stderr_path, "w", encoding="utf-8") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, bed.url, str(bed.journal_path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue = queue.Queue()
    pump = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
    pump.start()
    acked: set[tuple[str, str]] = set()
    try:
        assert _next_line(lines, child, stderr_path) == "ready"
        bed.cluster.stop()
        child.stdin.write("go\n")
        child.stdin.flush()
        while len(acked) < acknowledgements:
            _, user_id, workflow_id = _next_line(lines, child, stderr_path).split()
            acked.add((user_id, workflow_id))
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: nothing is closed or flushed
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        pump.join(timeout=10)
        child.stdin.close()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    while (line := lines.get_nowait()) is not None:  # acks printed before the kill landed
        _, user_id, workflow_id = line.split()
        acked.add((user_id, workflow_id))
    return acked


def assert_database_holds(engine: Engine, acked: set[tuple[str, str]]) -> None:
    users, workflows = database_state(engine, "users"), database_state(engine, "workflows")
    assert {user_id for user_id, _ in acked} <= users.keys()
    assert {workflow_id for _, workflow_id in acked} <= workflows.keys()
    # Beyond the acknowledged: the first user, and at most the unit of work cut short.
    assert len(users) - len(acked) in (1, 2)


def test_writes_journaled_by_a_killed_process_reach_the_database_on_the_next_start(bed):
    acked = run_child_until_killed(bed, acknowledgements=20)

    bed.restart_as_new_process()
    storage = bed.storage("dual", read_from="memory")  # same journal path
    pending = len(storage.parts.journal)
    assert pending >= len(acked)
    storage.start()  # replays what the killed process left, then loads memory from it

    assert len(storage.parts.journal) == 0
    assert storage.parts.stats.snapshot("users")["replayed"] == pending
    assert_database_holds(bed.engine, acked)
    # The killed process's memory is gone; the database had everything to rebuild it.
    for name in NAMES:
        assert memory_state(storage, name) == database_state(bed.engine, name)
    assert storage.verify()["differences"] == 0


def test_a_torn_final_journal_line_is_ignored_without_losing_earlier_entries(bed):
    acked = run_child_until_killed(bed, acknowledgements=5)
    with open(bed.journal_path, "a", encoding="utf-8") as journal:
        journal.write('{"seq":999999,"at":"2024-01-01T00:00:00+00:00","changes":[{"repos')

    bed.restart_as_new_process()
    storage = bed.storage("dual", read_from="memory")
    assert len(storage.parts.journal) >= len(acked)
    result = storage.replay_journal()

    assert result["error"] is None and result["pending"] == 0
    assert_database_holds(bed.engine, acked)


def test_entries_journaled_after_a_torn_line_survive_another_restart(bed):
    first = bed.storage("dual", read_from="memory")
    acked = Acknowledged()
    bed.cluster.stop()
    for _ in range(2):
        acked.put("users", first.users.add(make_user()))
    bed.close(first)  # the process ends; its last append was torn
    with open(bed.journal_path, "a", encoding="utf-8") as journal:
        journal.write('{"seq":3,"at":"2024-01-')

    bed.cluster.start()
    second = bed.storage("dual", read_from="memory")
    assert len(second.parts.journal) == 2
    bed.cluster.stop()
    second.start()  # the replay fails: the database went away again
    with pytest.raises(StorageUnavailable):  # memory cannot be loaded: it serves nothing
        second.users.add(make_user())
    late = acked.put("users", make_user())  # journaled after the torn line was cut off
    second.parts.journal.append([Change("users", late.id, to_dict(late))])
    assert len(second.parts.journal) == 3
    bed.close(second)  # and this process ends too, before the database is back

    bed.cluster.start()
    third = bed.storage("dual", read_from="memory")
    assert len(third.parts.journal) == 3
    assert third.replay_journal() == {"replayed": 3, "pending": 0, "error": None}
    assert database_state(bed.engine, "users") == acked.expected("users")
