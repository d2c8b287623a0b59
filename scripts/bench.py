#!/usr/bin/env python3
"""Benchmarks, measured side by side in one run and printed as ratios.

    .venv/bin/python scripts/bench.py backfill [--workflows 100000]
    .venv/bin/python scripts/bench.py replay [--entries 5000]
    .venv/bin/python scripts/bench.py switch-pause [--workflows 100000]

`backfill`: workflows (about 1 KB of nodes each, plus their users) in memory, backfilled
into a fresh PostgreSQL database by the backfiller (dry-run, then confirm), and in the same
run the same rows written by a raw `COPY`. Targets: confirm reaches at least half of COPY's
rows/s; the dry-run is at least twice as fast as confirm.

`replay`: writes acknowledged in `dual` while PostgreSQL was marked down (one journal entry
each), replayed once one entry a transaction and once in batches of `REPLAY_BATCH`, into
fresh databases in the same run. Target: batches drain the journal at least 3 times faster
(a journal must drain faster than writes arrive, or it never empties under load).

`switch-pause`: workflows (as for `backfill`) in `dual` reading memory on PostgreSQL, filled
by `COPY` and a load of memory; a dry run of the step to `read_from=database` while one
thread reads workflows by id and another renames one every 20 ms. Once the way switches
worked before (the complete comparison under the gate), once as they work now. Prints how
long the dry run took, how long it held the gate, and the reads' and writes' waits during
it, and the full garbage collections meanwhile (they stop every thread, gate or not).
Target: the gate held under 50 ms."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gc
import io
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

import wfplatform.models  # noqa: E402, F401
from tests import databases  # noqa: E402
from tests.conftest import build_storage  # noqa: E402
from tests.factories import make_user, make_workflow  # noqa: E402
from wfplatform.backfill.backfiller import Backfiller, Options  # noqa: E402
from wfplatform.errors import GuardRefused  # noqa: E402
from wfplatform.extensions import db  # noqa: E402
from wfplatform.storage import readiness, replication  # noqa: E402


def nodes(n: int) -> list[dict]:
    return [
        {"id": f"n{i}", "type": "http_request", "name": f"Step {i} of workflow {n}",
         "parameters": {"url": f"https://example.com/api/{n}/{i}", "method": "POST",
                        "body": {"value": "x" * 40}}}
        for i in range(5)
    ]  # fmt: skip


def make_records(count: int):
    users = [make_user() for _ in range(max(count // 10, 1))]
    workflows = [make_workflow(users[i % len(users)], nodes=nodes(i)) for i in range(count)]
    return users, workflows


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def raw_copy(engine, users, workflows) -> float:
    """The same rows through COPY (the floor a bulk load can reach)."""
    binding = {"users": "users", "workflows": "workflows"}
    tables = {name: db.metadata.tables[name] for name in binding}

    def rows(table, records, sql_class):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        repository = sql_class(None)
        for record in records:
            values = repository.to_columns(record)
            writer.writerow(
                json.dumps(values[c.name]) if isinstance(values[c.name], list | dict)
                else values[c.name] for c in table.columns
            )  # fmt: skip
        buffer.seek(0)
        return buffer

    from wfplatform.repositories.users import SqlUserRepository
    from wfplatform.repositories.workflows import SqlWorkflowRepository

    def copy():
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for name, records, sql_class in (
                ("users", users, SqlUserRepository),
                ("workflows", workflows, SqlWorkflowRepository),
            ):
                columns = ", ".join(c.name for c in tables[name].columns)
                buffer = rows(tables[name], records, sql_class)
                cursor.copy_expert(f"COPY {name} ({columns}) FROM STDIN WITH CSV", buffer)
            connection.commit()
        finally:
            connection.close()

    return timed(copy)


def backfill(count: int) -> None:
    with databases.temporary_postgres_database() as url:
        engine = databases.create_engine(url)
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
        users, workflows = make_records(count)
        with tempfile.TemporaryDirectory() as folder:
            storage = build_storage(engine, Path(folder) / "journal.log", "memory-only")
            for name, records in (("users", users), ("workflows", workflows)):
                memory = storage.in_memory(name)
                for record in records:
                    memory.upsert(record)
            storage.switch("dual", reason="benchmark", actor="bench")
            backfiller = Backfiller(storage)
            options = Options(repositories=("users", "workflows"), batch_size=1000)
            dry = timed(lambda: backfiller.dry_run(options))
            confirm = timed(lambda: backfiller.confirm(options, actor="bench"))
            assert storage.verify(["users", "workflows"])["differences"] == 0
            storage.close()
        with engine.begin() as connection:
            for table in ("migration_ledger", "migration_runs", "workflows", "users"):
                connection.execute(sa.text(f"DELETE FROM {table}"))
        copy = raw_copy(engine, users, workflows)
        engine.dispose()
    rows = len(users) + len(workflows)
    print(f"rows: {rows} ({len(workflows)} workflows, {len(users)} users)")
    for label, seconds in (("raw COPY", copy), ("confirm", confirm), ("dry-run", dry)):
        print(f"{label:>9}: {seconds:7.2f} s  {rows / seconds:10.0f} rows/s")
    print(f"confirm / COPY rows/s: {copy / confirm:.2f} (target >= 0.50)")
    print(f"dry-run / confirm speed: {confirm / dry:.2f} (target >= 2.00)")


def replay_seconds(entries: int, batch: int) -> float:
    """Seconds to replay `entries` journaled user writes, `batch` entries a transaction."""
    with databases.temporary_postgres_database() as url, tempfile.TemporaryDirectory() as folder:
        engine = databases.create_engine(url)
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
        storage = build_storage(engine, Path(folder) / "journal.log", "dual", read_from="memory")
        storage.parts.health.mark_down("benchmark: writes go to the journal")
        for _ in range(entries):
            storage.users.add(make_user())
        storage.parts.health.mark_up()
        replication.REPLAY_BATCH, default = batch, replication.REPLAY_BATCH
        try:
            seconds = timed(storage.replay_journal)
        finally:
            replication.REPLAY_BATCH = default
        assert storage.journal_length() == 0 and storage.verify(["users"])["differences"] == 0
        storage.close()
        engine.dispose()
    return seconds


def replay(entries: int) -> None:
    alone = replay_seconds(entries, batch=1)
    together = replay_seconds(entries, batch=replication.REPLAY_BATCH)
    print(f"journal entries: {entries}")
    for label, seconds in (("one a transaction", alone), ("batched", together)):
        print(f"{label:>18}: {seconds:7.2f} s  {entries / seconds:10.0f} entries/s")
    print(f"batched / one at a time speed: {alone / together:.2f} (target >= 3.00)")


class Traffic:
    """Reads of workflows by id in one thread, a rename every 20 ms in another, each
    timed, until stopped."""

    def __init__(self, storage, workflows) -> None:
        self._storage, self._workflows = storage, workflows
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
            self._storage.workflows.get(random.choice(self._workflows).id)
            self.reads.append((started, time.perf_counter() - started))

    def _write(self) -> None:
        while not self._stop.wait(0.02):
            workflow = self._storage.workflows.get(random.choice(self._workflows).id)
            started = time.perf_counter()
            self._storage.workflows.update(dataclasses.replace(workflow, name="renamed"))
            self.writes.append((started, time.perf_counter() - started))


def timing_the_gate(storage) -> list[float]:
    """Seconds each switch of `storage` holds its gate, from now on."""
    held, switch = [], storage.parts.gate.switch

    @contextmanager
    def timed(*args, **kwargs):
        with switch(*args, **kwargs):
            started = time.perf_counter()
            try:
                yield
            finally:
                held.append(time.perf_counter() - started)

    storage.parts.gate.switch = timed
    return held


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


def pause_figures(storage, workflows, dry_run) -> dict:
    held = timing_the_gate(storage)
    with Traffic(storage, workflows) as traffic:
        time.sleep(0.5)  # the traffic is under way before the dry run starts
        with full_collections() as collections:
            started = time.perf_counter()
            dry_run(storage)
            ended = time.perf_counter()
        time.sleep(0.2)
    del storage.parts.gate.switch
    during = {
        kind: [seconds for at, seconds in timed if at < ended and at + seconds > started]
        for kind, timed in (("reads", traffic.reads), ("writes", traffic.writes))
    }
    return {"dry run": ended - started, "gate held": sum(held), "gc": collections, **during}


def switch_pause(count: int) -> None:
    with databases.temporary_postgres_database() as url, tempfile.TemporaryDirectory() as folder:
        engine = databases.create_engine(url)
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
        users, workflows = make_records(count)
        fill = raw_copy(engine, users, workflows)
        storage = build_storage(engine, Path(folder) / "journal.log", "dual", read_from="memory")
        load = timed(lambda: [storage.load_memory(name) for name in ("users", "workflows")])
        print(f"workflows: {count} ({len(users)} users), filled by COPY in {fill:.1f} s, "
              f"memory loaded in {load:.1f} s")  # fmt: skip
        figures = {
            "before": pause_figures(storage, workflows, dry_run_before),
            "now": pause_figures(storage, workflows, dry_run_now),
        }
        assert storage.verify(["workflows"])["differences"] == 0
        storage.close()
        engine.dispose()
    print(f"{'':>8} {'dry run':>9} {'gate held':>10} {'reads':>7} {'median read':>12} "
          f"{'longest read':>13} {'writes':>7} {'longest write':>14} {'full GCs':>9} "
          f"{'longest GC':>11}")  # fmt: skip
    for label, found in figures.items():
        reads, writes, collections = found["reads"], found["writes"], found["gc"]
        print(f"{label:>8} {found['dry run']:8.2f}s {found['gate held'] * 1000:8.1f}ms "
              f"{len(reads):7d} {statistics.median(reads) * 1000:10.2f}ms "
              f"{max(reads) * 1000:11.1f}ms {len(writes):7d} "
              f"{max(writes, default=0) * 1000:12.1f}ms {len(collections):9d} "
              f"{max(collections, default=0) * 1000:9.1f}ms")  # fmt: skip
    print(f"gate held now: {figures['now']['gate held'] * 1000:.1f} ms (target < 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    backfill_parser = commands.add_parser("backfill", help="backfiller vs raw COPY")
    backfill_parser.add_argument("--workflows", type=int, default=100_000)
    replay_parser = commands.add_parser("replay", help="journal replay, batched vs one by one")
    replay_parser.add_argument("--entries", type=int, default=5000)
    pause_parser = commands.add_parser("switch-pause", help="how long a dry run stops the rest")
    pause_parser.add_argument("--workflows", type=int, default=100_000)
    args = parser.parse_args()
    if args.command == "backfill":
        backfill(args.workflows)
    elif args.command == "replay":
        replay(args.entries)
    else:
        switch_pause(args.workflows)


if __name__ == "__main__":
    main()
