"""`switch-pause`: workflows (as for `backfill`) in `dual` reading memory on PostgreSQL,
filled by `COPY` and loaded into memory at start; a dry run of the step to
`read_from=database` while one thread reads workflows by id and another renames one every
20 ms. The anchor is the way switches worked before (every repository compared under the
gate), in the same run. Figures: how long the gate stopped every other storage operation,
the longest read and write meanwhile, and the full garbage collections (they stop every
thread, gate or not). Target: the gate held under 50 ms. Then the same dry run over the
platform's largest table, `executions` (`executions` rows, as the `executions` benchmark
makes them), with one thread reading executions and another changing one every 20 ms."""

from __future__ import annotations

import dataclasses
import gc
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from wfplatform.errors import GuardRefused
from wfplatform.repositories.executions import SqlExecutionRepository
from wfplatform.repositories.users import SqlUserRepository
from wfplatform.storage import readiness

from .executions import execution_table
from .postgres import Databases, create_engine
from .records import copy_rows, make_records, raw_copy, started_storage
from .report import Row, Target, interleaved, median


def renamed(workflow):
    return dataclasses.replace(workflow, name="renamed")


def counted_once_more(execution):
    return dataclasses.replace(
        execution, truncated=execution.truncated + 1, version=execution.version + 1
    )


class Traffic:
    """Reads of records of one repository by id in one thread, a change every 20 ms in
    another, each timed, until stopped."""

    def __init__(self, storage, ids: list[str], name: str = "workflows", change=renamed):
        self._repository, self._ids, self._change = storage.repository(name), ids, change
        self._stop = threading.Event()
        self.reads: list[tuple[float, float]] = []  # (started, seconds)
        self.writes: list[tuple[float, float]] = []
        self._threads = [threading.Thread(target=self._read), threading.Thread(target=self._write)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _read(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self._repository.get(random.choice(self._ids))
            self.reads.append((started, time.perf_counter() - started))

    def _write(self) -> None:
        while not self._stop.wait(0.02):
            record = self._repository.get(random.choice(self._ids))
            started = time.perf_counter()
            self._repository.update(self._change(record))
            self.writes.append((started, time.perf_counter() - started))


@contextmanager
def gate_timings(storage) -> Iterator[list[float]]:
    """Seconds each switch of `storage` holds its gate meanwhile."""
    held, gate = [], storage.parts.gate
    switch = gate.switch

    @contextmanager
    def timed(*args, **kwargs):
        with switch(*args, **kwargs):
            started = time.perf_counter()
            try:
                yield
            finally:
                held.append(time.perf_counter() - started)

    gate.switch = timed
    try:
        yield held
    finally:
        del gate.switch


@contextmanager
def full_collections() -> Iterator[list[float]]:
    """Seconds each full garbage collection takes meanwhile: with every record in memory,
    one stops every thread for seconds, and the comparison's allocations bring them on."""
    taken, began = [], {}

    def note(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began["at"] = time.perf_counter()
            else:
                taken.append(time.perf_counter() - began["at"])

    gc.callbacks.append(note)
    try:
        yield taken
    finally:
        gc.callbacks.remove(note)


def dry_run_before(storage) -> None:
    """What a dry run did before: every repository compared completely under the gate."""
    with storage.parts.gate.switch():
        for name in storage.repository_names:
            readiness.backend_counts(storage.parts, name)


def dry_run_now(storage) -> None:
    try:
        storage.switch("dual", read_from="database", reason="bench", actor="bench", dry_run=True)
    except GuardRefused as refused:
        print(f"  (refused: {refused.details['refused']})")


def pause(storage, ids: list[str], dry_run, traffic_of=Traffic) -> dict:
    with gate_timings(storage) as held, traffic_of(storage, ids) as traffic:
        time.sleep(0.5)  # the traffic is under way before the dry run starts
        with full_collections() as collections:
            started = time.perf_counter()
            dry_run(storage)
            ended = time.perf_counter()
        time.sleep(0.2)
    during = {
        kind: [seconds for at, seconds in timed if at < ended and at + seconds > started]
        for kind, timed in (("reads", traffic.reads), ("writes", traffic.writes))
    }
    return {"dry run": ended - started, "gate held": sum(held), "gc": collections, **during}


def switch_pause(databases: Databases, count: int, repeat: int, executions: int) -> list[Row]:
    return _over_workflows(databases, count, repeat) + _over_executions(
        databases, executions, repeat
    )


def _over_executions(databases: Databases, count: int, repeat: int) -> list[Row]:
    url = databases.fresh()
    users, made = execution_table(count)
    engine = create_engine(url)
    copy_rows(engine, [(users, SqlUserRepository), (made, SqlExecutionRepository)])
    engine.dispose()
    ids = [execution.id for execution in made]
    del users, made

    def traffic(storage, ids):
        return Traffic(storage, ids, "executions", counted_once_more)

    with started_storage(url, "dual", read_from="memory") as storage:
        gc.collect()
        gc.freeze()
        runs = interleaved({"now": lambda: pause(storage, ids, dry_run_now, traffic)}, repeat)
        assert storage.verify(["executions"])["differences"] == 0
    gc.unfreeze()
    found = runs["now"]
    return [
        Row("switch-pause", f"gate held by a dry run, {count:,} executions",
            median(r["gate held"] for r in found) * 1000, unit="ms",
            target=Target("<", 50, "< 50 ms", of_figure=True)),
        Row("switch-pause", f"dry run, {count:,} executions",
            median(r["dry run"] for r in found) * 1000, unit="ms"),
        Row("switch-pause", "longest write during it (executions)",
            median(max(r["writes"], default=0) for r in found) * 1000, unit="ms"),
    ]  # fmt: skip


def _over_workflows(databases: Databases, count: int, repeat: int) -> list[Row]:
    url = databases.fresh()
    users, workflows = make_records(count)
    engine = create_engine(url)
    raw_copy(engine, users, workflows)
    engine.dispose()
    ids = [workflow.id for workflow in workflows]
    del users, workflows  # a serving process holds only what it loaded
    with started_storage(url, "dual", read_from="memory") as storage:
        # As `bootstrap.start_serving` leaves a serving process: what start-up made (the
        # records memory loaded) is out of the collector's sight.
        gc.collect()
        gc.freeze()
        runs = interleaved(
            {
                "before": lambda: pause(storage, ids, dry_run_before),
                "now": lambda: pause(storage, ids, dry_run_now),
            },
            repeat,
        )
        assert storage.verify(["workflows"])["differences"] == 0
    gc.unfreeze()

    def figure(label: str, pick) -> float:
        return median(pick(found) for found in runs[label]) * 1000  # ms

    def gate(found: dict) -> float:
        return found["gate held"]

    rows = [
        Row("switch-pause", f"gate held by a dry run, {count:,} workflows: now vs before",
            figure("now", gate), figure("before", gate), "ms",
            target=Target("<", 50, "< 50 ms", of_figure=True)),
    ]  # fmt: skip
    others = {
        "dry run": lambda found: found["dry run"],
        "median read during it": lambda found: statistics.median(found["reads"] or [0]),
        "longest read during it": lambda found: max(found["reads"], default=0),
        "longest write during it": lambda found: max(found["writes"], default=0),
        "longest full garbage collection": lambda found: max(found["gc"], default=0),
    }
    rows += [
        Row("switch-pause", f"{name}: now vs before", figure("now", pick), figure("before", pick),
            "ms")
        for name, pick in others.items()
    ]  # fmt: skip
    return rows
