"""`backfill`: workflows (about 1 KB of nodes each, a user per ten) in memory, backfilled
into a fresh PostgreSQL database by the backfiller (dry run, then confirm); in the same
run the same rows written by a raw `COPY` into another. Targets: confirm reaches 0.75 of
`COPY`'s rows/s; the dry run is at least twice as fast as confirm.

`replay`: writes acknowledged in `dual` while PostgreSQL was marked down (one journal
entry each), replayed one entry a transaction and in batches of `REPLAY_BATCH`, into fresh
databases in the same run. Target: batches drain the journal at least 3 times faster (a
journal must drain faster than writes arrive, or it never empties under load)."""

from __future__ import annotations

import gc
import time

from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.storage import replication

from .postgres import Databases, create_engine
from .records import make_records, raw_copy, started_storage, user
from .report import Row, Target, interleaved, median

NAMES = ("users", "workflows")


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _backfill_once(databases: Databases, users, workflows) -> tuple[float, float]:
    """(dry-run seconds, confirm seconds) of one backfill into a fresh database."""
    with started_storage(databases.fresh(), "memory-only") as storage:
        for name, records in zip(NAMES, (users, workflows), strict=True):
            memory = storage.in_memory(name)
            for record in records:
                memory.upsert(record)
        storage.switch("dual", reason="benchmark", actor="bench")
        backfiller = Backfiller(storage)
        options = Options(repositories=NAMES, batch_size=1000)
        dry = _timed(lambda: backfiller.dry_run(options))
        confirm = _timed(lambda: backfiller.confirm(options, actor="bench"))
        differences = storage.verify(list(NAMES))["differences"]
        assert differences == 0, f"the backfill left {differences} differences"
    return dry, confirm


def _copy_once(databases: Databases, users, workflows) -> float:
    engine = create_engine(databases.fresh())
    try:
        return _timed(lambda: raw_copy(engine, users, workflows))
    finally:
        engine.dispose()


def backfill(databases: Databases, count: int, repeat: int) -> list[Row]:
    users, workflows = make_records(count)
    rows = len(users) + len(workflows)
    # The benchmark's own records (every workflow's JSON, live) are out of the collector's
    # sight, as a serving process holds no second copy: collections measure the backfill's.
    gc.collect()
    gc.freeze()
    try:
        runs = interleaved(
            {
                "backfill": lambda: _backfill_once(databases, users, workflows),
                "copy": lambda: _copy_once(databases, users, workflows),
            },
            repeat,
        )
    finally:
        gc.unfreeze()
    dry = median(seconds for seconds, _ in runs["backfill"])
    confirm = median(seconds for _, seconds in runs["backfill"])
    copy = median(runs["copy"])
    size = f"{len(workflows):,} workflows + {len(users):,} users"
    return [
        Row("backfill", f"confirm vs raw COPY, {size}", rows / confirm, rows / copy, "rows/s",
            target=Target(">=", 0.75)),
        Row("backfill", "dry run vs confirm", rows / dry, rows / confirm, "rows/s",
            target=Target(">=", 2.0)),
    ]  # fmt: skip


def _replay_once(databases: Databases, entries: int, batch: int) -> float:
    """Seconds to replay `entries` journaled user writes, `batch` entries a transaction."""
    with started_storage(databases.fresh(), "dual", read_from="memory") as storage:
        storage.sync_worker.stop()  # the benchmark replays, not the background worker
        storage.parts.health.mark_down("benchmark: writes go to the journal")
        for n in range(entries):
            storage.users.add(user(n))
        storage.parts.health.mark_up()
        replication.REPLAY_BATCH, default = batch, replication.REPLAY_BATCH
        try:
            seconds = _timed(storage.replay_journal)
        finally:
            replication.REPLAY_BATCH = default
        assert storage.journal_length() == 0, "the journal did not drain"
        assert storage.verify(["users"])["differences"] == 0
    return seconds


def replay(databases: Databases, entries: int, repeat: int) -> list[Row]:
    batch = replication.REPLAY_BATCH
    runs = interleaved(
        {
            "alone": lambda: _replay_once(databases, entries, 1),
            "batched": lambda: _replay_once(databases, entries, batch),
        },
        repeat,
    )
    return [
        Row("replay", f"journal replay, {batch} entries a transaction vs one, {entries:,} entries",
            entries / median(runs["batched"]), entries / median(runs["alone"]), "entries/s",
            target=Target(">=", 3.0)),
    ]  # fmt: skip
