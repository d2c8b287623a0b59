"""An offline backfill: records from an export file, straight into `DATABASE_URL`."""

from __future__ import annotations

from ..backup.reader import read_export
from ..backup.records import InvalidRecord, decode_record
from ..storage.adapter import Storage


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
