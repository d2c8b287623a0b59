"""`scale`: lists of 50 over every user's workflows (an admin's `owner=all`), unfiltered and
filtered by `status`, `tags`, `search` and `node_type`, at 1,000, 10,000 and 100,000
workflows (a user per hundred), in `database-only` on PostgreSQL and in `memory-only`,
through the storage adapter; every size is loaded before the first list, and the lists
are interleaved over all sizes. Prints the PostgreSQL plans of each list's statements at
the largest size. Figures: the time at the largest size against the time at the size
below it, and the growth exponent k between them (time ∝ workflows^k): target k ≤ 0.5,
clearly sub-linear (an index with a limit stays nearly flat; a full scan grows as k ≈ 1).
Also the memory store's bytes per workflow (tracemalloc, at the largest size) against its
JSON size: target ≤ 3×."""

from __future__ import annotations

import math
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wfplatform.backends.memory import MemoryStore
from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.workflows import MemoryWorkflowRepository, WorkflowQuery

from .postgres import Databases, create_engine
from .records import json_size, make_records, raw_copy, started_storage
from .report import Row, Target, interleaved, median

QUERIES = {
    "unfiltered": WorkflowQuery(),
    "status": WorkflowQuery(status="active"),
    "tags": WorkflowQuery(tags=("tag-7",)),
    "search": WorkflowQuery(search="number 77"),
    "node_type": WorkflowQuery(node_type="type-3"),
}
CALLS = 3  # lists per case and repetition
PER_USER = 100


@contextmanager
def _statements() -> Iterator[list[tuple[str, object]]]:
    """The SQL statements every engine runs meanwhile, with their parameters (a list reads
    on the storage's pool for reads, not on the engine it writes with)."""
    seen: list[tuple[str, object]] = []

    def note(connection, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    sa.event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", note)


def plans(storage, read: Callable[[], object], table: str) -> list[str]:
    """PostgreSQL's plans of the statements on `table` that `read()` runs."""
    engine = storage.control_plane_engine
    with _statements() as seen:
        read()
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        plans = []
        for statement, parameters in seen:
            if f"FROM {table}" not in statement:
                continue  # the storage's own work meanwhile (heartbeats, modes)
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(line for (line,) in cursor.fetchall()))
        return plans
    finally:
        connection.close()


def scans(plans: list[str]) -> str:
    """What each statement's plan reads: the indexes it scans, or `seq scan`; e.g. `count:
    seq scan; page: ix_workflows_updated_at` (the count comes first, then the page)."""
    read = []
    for plan in plans:
        indexes = re.findall(r"Index(?: Only)? Scan(?: Backward)? (?:using|on) (ix_\w+)", plan)
        ways = list(dict.fromkeys(indexes)) + (["seq scan"] if "Seq Scan" in plan else [])
        read.append(" + ".join(ways))
    if len(read) != 2:
        return "; ".join(read)
    return f"count: {read[0]}; page: {read[1]}"


def _loaded(stack: ExitStack, databases: Databases, size: int) -> dict:
    users, workflows = make_records(size, per_user=PER_USER)
    url = databases.fresh()
    engine = create_engine(url)
    raw_copy(engine, users, workflows)
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()
    database = stack.enter_context(started_storage(url, "database-only"))
    memory = stack.enter_context(started_storage(databases.fresh(), "memory-only"))
    for name, records in (("users", users), ("workflows", workflows)):
        side = memory.in_memory(name)
        for record in records:
            side.upsert(record)
    return {"database": database, "memory": memory, "workflows": workflows}


def _list_ms(storage, query: WorkflowQuery) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        storage.workflows.list(query)
    return (time.perf_counter() - started) / CALLS * 1000


def _bytes_per_workflow(workflows) -> tuple[float, float]:
    """(bytes the memory store holds per workflow, bytes of a workflow as JSON)."""
    store = MemoryStore()
    for binding in REPOSITORIES:
        binding.memory.create_table(store)
    repository = MemoryWorkflowRepository(store)  # upsert checks no parent
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for record in workflows:
            repository.upsert(record)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held / len(workflows), sum(map(json_size, workflows)) / len(workflows)


def _growth(times: dict[int, float]) -> tuple[int, float] | None:
    """(the size below the largest, the exponent k from it to the largest): over the last
    step, where a fixed cost per list weighs least."""
    if len(times) < 2:
        return None
    below, largest = sorted(times)[-2:]
    return below, math.log(times[largest] / times[below]) / math.log(largest / below)


def scale(databases: Databases, sizes: tuple[int, ...], repeat: int) -> list[Row]:
    with ExitStack() as stack:
        loaded = {size: _loaded(stack, databases, size) for size in sizes}
        largest = max(sizes)
        database = loaded[largest]["database"]
        found_plans = {
            name: plans(database, lambda q=q: database.workflows.list(q), "workflows")
            for name, q in QUERIES.items()
        }
        for name, found in found_plans.items():
            print(f"-- PostgreSQL plans, {name}, {largest:,} workflows", *found, sep="\n\n")
        cases = {
            (backend, name, size): (lambda s=loaded[size][backend], q=query: _list_ms(s, q))
            for size in sizes
            for backend in ("database", "memory")
            for name, query in QUERIES.items()
        }
        runs = interleaved(cases, repeat)
        held, as_json = _bytes_per_workflow(loaded[largest]["workflows"])
    rows = []
    for backend in ("database", "memory"):
        for name in QUERIES:
            times = {size: median(runs[(backend, name, size)]) for size in sizes}
            growth = _growth(times)
            at = ", ".join(f"{size:,}: {ms:.2f} ms" for size, ms in times.items())
            plan = f"; {scans(found_plans[name])}" if backend == "database" else ""
            name = f"{backend}-only list of 50, {name}"
            if growth is None:
                rows.append(Row("scale", name, times[largest], unit="ms", note=f"{at}{plan}"))
                continue
            below, k = growth
            rows.append(
                Row("scale", f"{name}, {largest:,} vs {below:,} workflows", times[largest],
                    times[below], "ms", ratio=k, target=Target("<=", 0.5, "k ≤ 0.5"),
                    note=f"ratio: growth exponent k; {at}{plan}")
            )  # fmt: skip
    rows.append(
        Row("scale", f"memory store bytes per workflow vs its JSON, {largest:,} workflows", held,
            as_json, "B", target=Target("<=", 3.0))
    )  # fmt: skip
    return rows
