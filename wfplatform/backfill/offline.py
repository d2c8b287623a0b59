"""An offline backfill: records from an export file, straight into `DATABASE_URL`."""

from __future__ import annotations

from pathlib import Path

from ..backup.reader import read_export
from ..backup.records import InvalidRecord, decode_record
from ..storage.adapter import Storage
from .backfiller import Backfiller


def load_export(storage: Storage, path: str) -> list[dict]:
    """Put the file's records into memory (nothing else is there offline); returns the
    records that do not decode, as report samples."""
    problems = []
    for repository, data in read_export(path):
        try:
            record = decode_record(repository, data)
        except InvalidRecord as invalid:
            problems.append(
                {"repository": repository, "id": data.get("id"), "action": "invalid",
                 "reason": str(invalid.problems)}
            )  # fmt: skip
            continue
        storage.in_memory(repository).upsert(record)
    return problems


def offline_backfiller(storage: Storage, path: str) -> tuple[Backfiller, list[dict]]:
    """A backfiller (traced like the service's) over the file's records loaded in memory."""
    from ..observability import TracedBackfiller  # observability builds on the backfiller

    problems = load_export(storage, path)
    return TracedBackfiller(storage, None, source=f"file:{Path(path).name}"), problems
