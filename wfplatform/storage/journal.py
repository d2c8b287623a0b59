"""The durable sync journal: database writes that could not be applied yet.

An entry is the final state of every record one unit of work changed (a put carries the
record, a removal carries null), so replaying is idempotent: replaying an entry twice, after
a crash between applying and checkpointing, leaves the same rows. An entry is acknowledged
only after `fsync`; a torn last line (a crash mid-append) was never acknowledged and is
ignored. Replay progress is a checkpoint file replaced atomically; once everything is
replayed the journal is truncated. Sequence numbers only ever grow.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..domain.codec import utcnow


@dataclass(frozen=True)
class Change:
    """The state one record must end up in: `data` is None for a removal."""

    repository: str
    key: str
    data: dict[str, Any] | None

    def to_json(self) -> dict:
        return {"repository": self.repository, "key": self.key, "data": self.data}

    @classmethod
    def from_json(cls, raw: dict) -> Change:
        return cls(raw["repository"], raw["key"], raw["data"])


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    changes: tuple[Change, ...]


class SyncJournal:
    """Thread-safe; one process owns a journal file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._checkpoint_path = self.path.with_name(self.path.name + ".checkpoint")
        self._lock = threading.Lock()
        self._drop_torn_tail()
        self._replayed = self._read_checkpoint()
        self._pending = [entry for entry in self._read_entries() if entry.seq > self._replayed]
        self._next_seq = max([self._replayed, *(e.seq for e in self._pending)]) + 1
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def append(self, changes: list[Change]) -> int:
        """Durably record `changes`; returns the entry's sequence number."""
        with self._lock:
            entry = JournalEntry(self._next_seq, tuple(changes))
            line = json.dumps(
                {
                    "seq": entry.seq,
                    "at": utcnow().isoformat(),
                    "changes": [change.to_json() for change in changes],
                },
                separators=(",", ":"),
            )
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._pending.append(entry)
            self._next_seq += 1
            return entry.seq

    def pending(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._pending)

    def mark_replayed(self, seq: int) -> None:
        """Everything up to `seq` is in the database."""
        with self._lock:
            self._pending = [entry for entry in self._pending if entry.seq > seq]
            self._replayed = max(self._replayed, seq)
            self._write_checkpoint()
            if not self._pending:
                self._file.truncate(0)
                self._file.seek(0)
                os.fsync(self._file.fileno())

    def close(self) -> None:
        """Idempotent."""
        with self._lock:
            self._file.close()

    def _read_checkpoint(self) -> int:
        try:
            return int(self._checkpoint_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _write_checkpoint(self) -> None:
        tmp = self._checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(str(self._replayed))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._checkpoint_path)

    def _drop_torn_tail(self) -> None:
        """Cut a torn last append off, or the next append would extend it into garbage."""
        try:
            with open(self.path, "rb+") as handle:
                data = handle.read()
                complete = data.rfind(b"\n") + 1
                if complete < len(data):
                    handle.truncate(complete)
                    os.fsync(handle.fileno())
        except FileNotFoundError:
            pass

    def _read_entries(self) -> list[JournalEntry]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn final append: it was never acknowledged
            changes = tuple(Change.from_json(change) for change in raw["changes"])
            entries.append(JournalEntry(raw["seq"], changes))
        return entries
