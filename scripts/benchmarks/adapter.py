"""`adapter`: get, list (50 of a user's workflows), create and update of workflows through
the storage adapter in each mode, in-process on PostgreSQL, against the bare repositories
below it (`wfplatform.repositories`: the SQL class on a session of its own, the memory
class on a store of its own), interleaved in one run. Targets: in `database-only` the
adapter costs at most 1.05× the bare SQL repository; reads in the memory-first modes are
at least 20× faster than `database-only` reads; shadow reads at rate 1.0 (`dual` reading
memory) add at most 10 % to the read time of the thread that asked."""

from __future__ import annotations

import dataclasses
import itertools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from wfplatform.backends.memory import MemoryStore
from wfplatform.backends.sql import new_session, reading_engine
from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.users import MemoryUserRepository, SqlUserRepository
from wfplatform.repositories.workflows import (
    MemoryWorkflowRepository,
    SqlWorkflowRepository,
    WorkflowQuery,
)

from .postgres import Databases, create_engine
from .records import started_storage, user, workflow
from .report import Row, Target, interleaved, median

SEEDED = 200  # workflows of the one user every read is about
# label -> (mode, read_from, shadow_rate)
MODES = {
    "database-only": ("database-only", None, 0.0),
    "dual reading the database": ("dual", "database", 0.0),
    "dual reading memory": ("dual", "memory", 0.0),
    "dual reading memory, shadow rate 1.0": ("dual", "memory", 1.0),
    "memory-only": ("memory-only", None, 0.0),
}
BARE_SQL, BARE_MEMORY = "bare SQL repository", "bare memory repository"


class Subject:
    """One way to reach the workflows, and the latest of each workflow it stored."""

    def __init__(self, get, list_, add, update, settle: Callable[[], None] = lambda: None):
        self.get, self.list, self.add, self.update, self.settle = get, list_, add, update, settle
        self.latest: dict[str, Any] = {}

    def seed(self, records) -> None:
        for record in records:
            self.latest[record.id] = self.add(dataclasses.replace(record))


def _through(storage, owner) -> Subject:
    storage.users.add(owner)
    workflows = storage.workflows
    return Subject(
        workflows.get,
        workflows.list,
        workflows.add,
        lambda record: workflows.update(record, expected_version=record.version),
        settle=storage.parts.shadow.drain,
    )


def _bare_sql(engine, reads, owner) -> Subject:
    """`reads`: an autocommit pool like the one the adapter reads on (`reading_engine`)."""

    def reading(operation):
        def read(*args):
            with new_session(reads, single_read=True) as session:
                return getattr(SqlWorkflowRepository(session), operation)(*args)

        return read

    def writing(operation):
        def write(record):
            with new_session(engine, write=True) as session:
                repository = SqlWorkflowRepository(session)
                if operation == "add":
                    stored = repository.add(record)
                else:
                    stored = repository.update(record, expected_version=record.version)
                session.commit()
                return stored

        return write

    with new_session(engine, write=True) as session:
        SqlUserRepository(session).add(owner)
        session.commit()
    return Subject(reading("get"), reading("list"), writing("add"), writing("update"))


def _bare_memory(owner) -> Subject:
    store = MemoryStore()
    for binding in REPOSITORIES:
        binding.memory.create_table(store)
    MemoryUserRepository(store).add(owner)
    repository = MemoryWorkflowRepository(store)
    return Subject(
        repository.get,
        repository.list,
        repository.add,
        lambda record: repository.update(record, expected_version=record.version),
    )


def _operation(subject: Subject, name: str, owner, counter: Iterator[int]) -> Callable[[], Any]:
    ids = list(subject.latest)
    query = WorkflowQuery(user_id=owner.id, limit=50)

    def update() -> None:
        current = subject.latest[random.choice(ids)]
        renamed = dataclasses.replace(current, name=f"renamed {next(counter)}")
        subject.latest[current.id] = subject.update(renamed)

    return {
        "get": lambda: subject.get(random.choice(ids)),
        "list": lambda: subject.list(query),
        "create": lambda: subject.add(workflow(owner, next(counter))),
        "update": update,
    }[name]


def _timed(operation: Callable[[], Any], count: int, settle: Callable[[], None]) -> float:
    """Microseconds per call; `settle` (untimed) lets work the calls queued finish, so it
    does not fall on the next case."""
    started = time.perf_counter()
    for _ in range(count):
        operation()
    elapsed = time.perf_counter() - started
    settle()
    return elapsed / count * 1e6


def measure(databases: Databases, counts: dict[str, int], repeat: int) -> dict[str, dict]:
    """Microseconds per operation: {operation: {subject: the median over repetitions}}."""
    owner = user(0)
    seeded = [workflow(owner, n) for n in range(SEEDED)]
    counter = itertools.count(SEEDED)
    with ExitStack() as stack:
        subjects: dict[str, Subject] = {}
        for label, (mode, read_from, rate) in MODES.items():
            url = databases.fresh()
            storage = stack.enter_context(started_storage(url, mode, read_from, shadow_rate=rate))
            subjects[label] = _through(storage, owner)
        url = databases.fresh()
        engine, reads = create_engine(url), reading_engine(url)
        stack.callback(engine.dispose)
        stack.callback(reads.dispose)
        subjects[BARE_SQL] = _bare_sql(engine, reads, owner)
        subjects[BARE_MEMORY] = _bare_memory(owner)
        for subject in subjects.values():
            subject.seed(seeded)
        found = {}
        for name, count in counts.items():

            def case(subject: Subject, name: str = name, count: int = count) -> Callable:
                return lambda: _timed(
                    _operation(subject, name, owner, counter), count, subject.settle
                )

            runs = interleaved({label: case(s) for label, s in subjects.items()}, repeat)
            found[name] = {label: median(times) for label, times in runs.items()}
    return found


def adapter(databases: Databases, counts: dict[str, int], repeat: int) -> list[Row]:
    found = measure(databases, counts, repeat)
    rows = []
    for name, times in found.items():
        rows.append(
            Row("adapter", f"{name}: database-only adapter vs {BARE_SQL}", times["database-only"],
                times[BARE_SQL], "µs", target=Target("<=", 1.05))
        )  # fmt: skip
        rows.append(
            Row("adapter", f"{name}: dual reading the database vs database-only",
                times["dual reading the database"], times["database-only"], "µs")
        )  # fmt: skip
        rows.append(
            Row("adapter", f"{name}: memory-only adapter vs {BARE_MEMORY}", times["memory-only"],
                times[BARE_MEMORY], "µs")
        )  # fmt: skip
    for name in ("get", "list"):
        times = found[name]
        for label in ("memory-only", "dual reading memory"):
            rows.append(
                Row("adapter", f"{name}: {label} vs database-only", times[label],
                    times["database-only"], "µs", ratio=times["database-only"] / times[label],
                    target=Target(">=", 20, "≥ 20× faster"), note="ratio: how many times faster")
            )  # fmt: skip
        rows.append(
            Row("adapter", f"{name}: shadow reads at rate 1.0 vs none (dual reading memory)",
                times["dual reading memory, shadow rate 1.0"], times["dual reading memory"], "µs",
                target=Target("<=", 1.10))
        )  # fmt: skip
    return rows
