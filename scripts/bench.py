#!/usr/bin/env python3
"""Benchmarks, measured side by side in one run and printed as ratios.

    .venv/bin/python scripts/bench.py backfill [--workflows 100000]
    .venv/bin/python scripts/bench.py replay [--entries 5000]

`backfill`: workflows (about 1 KB of nodes each, plus their users) in memory, backfilled
into a fresh PostgreSQL database by the backfiller (dry-run, then confirm), and in the same
run the same rows written by a raw `COPY`. Targets: confirm reaches at least half of COPY's
rows/s; the dry-run is at least twice as fast as confirm.

`replay`: writes acknowledged in `dual` while PostgreSQL was marked down (one journal entry
each), replayed once one entry a transaction and once in batches of `REPLAY_BATCH`, into
fresh databases in the same run. Target: batches drain the journal at least 3 times faster
(a journal must drain faster than writes arrive, or it never empties under load)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

import wfplatform.models  # noqa: E402, F401
from tests import databases  # noqa: E402
from tests.conftest import build_storage  # noqa: E402
from tests.factories import make_user, make_workflow  # noqa: E402
from wfplatform.backfill.backfiller import Backfiller, Options  # noqa: E402
from wfplatform.extensions import db  # noqa: E402
from wfplatform.storage import replication  # noqa: E402


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
                memory = storage.memory_repository(name)
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
        storage.health.mark_down("benchmark: writes go to the journal")
        for _ in range(entries):
            storage.users.add(make_user())
        storage.health.mark_up()
        replication.REPLAY_BATCH, default = batch, replication.REPLAY_BATCH
        try:
            seconds = timed(storage.replay_journal)
        finally:
            replication.REPLAY_BATCH = default
        assert len(storage.journal) == 0 and storage.verify(["users"])["differences"] == 0
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    backfill_parser = commands.add_parser("backfill", help="backfiller vs raw COPY")
    backfill_parser.add_argument("--workflows", type=int, default=100_000)
    replay_parser = commands.add_parser("replay", help="journal replay, batched vs one by one")
    replay_parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    if args.command == "backfill":
        backfill(args.workflows)
    else:
        replay(args.entries)


if __name__ == "__main__":
    main()
