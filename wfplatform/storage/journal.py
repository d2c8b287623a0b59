"""The durable sync journal: database writes that could not be applied yet.

An entry is the final state of every record one unit of work changed (a put carries the
record, a removal carries null), so replaying is idempotent: replaying an entry twice, after
a crash between applying and checkpointing, leaves the same rows. An entry is acknowledged
only after `fsync`; a torn last line (a crash mid-append) was never acknowledged and is
ignored. Replay progress is a checkpoint file replaced atomically; once everything is
replayed the journal is truncated. Sequence numbers only ever grow.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..domain.codec import utcnow
from ..private_files import owner_only


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
    """Thread-safe. A process owns its journal file through an exclusive `flock`: with
    several processes on one path, the others take `<path>.<id>` files, and a starting
    process adopts the files of processes that are gone (`adopt_orphans`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._base = Path(path)
        self._base.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._file = _claim(self._base)
        self._checkpoint_path = _checkpoint_of(self.path)
        self._lock = threading.Lock()
        self._replayed = _read_checkpoint(self._checkpoint_path)
        self._pending = _read_pending(self.path, self._replayed)
        self._next_seq = max([self._replayed, *(e.seq for e in self._pending)]) + 1

    def adopt_orphans(self) -> int:
        """Take over the pending entries of journal files no live process holds; returns
        how many entries were adopted (they are replayed with ours, before ours)."""
        adopted = 0
        for candidate in sorted(self._base.parent.glob(self._base.name + "*")):
            if candidate == self.path or candidate.suffix in (".checkpoint", ".tmp"):
                continue
            handle = _lock_or_none(candidate)
            if handle is None:
                continue  # a live process owns it
            try:
                checkpoint = _checkpoint_of(candidate)
                for entry in _read_pending(candidate, _read_checkpoint(checkpoint)):
                    self.append(list(entry.changes))
                    adopted += 1
                candidate.unlink()
                checkpoint.unlink(missing_ok=True)
            finally:
                handle.close()
        return adopted

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

    def _write_checkpoint(self) -> None:
        tmp = self._checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", opener=owner_only) as handle:
            handle.write(str(self._replayed))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._checkpoint_path)


def _checkpoint_of(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint")


def _lock_or_none(path: Path):
    handle = open(path, "a", encoding="utf-8", opener=owner_only)  # noqa: SIM115
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _claim(base: Path):
    """The base file if no live process holds it, else a file of our own beside it."""
    handle = _lock_or_none(base)
    if handle is not None:
        return base, handle
    own = base.with_name(f"{base.name}.{uuid.uuid4().hex[:12]}")
    return own, _lock_or_none(own)


def _read_checkpoint(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def _read_pending(path: Path, replayed: int) -> list[JournalEntry]:
    """Entries after `replayed`. A torn last append (a crash mid-write, never acknowledged)
    is cut off, or the next append would extend it into garbage."""
    with open(path, "rb+") as handle:
        data = handle.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            handle.truncate(complete)
            os.fsync(handle.fileno())
    entries = []
    for line in data[:complete].decode("utf-8").splitlines():
        raw = json.loads(line)
        if raw["seq"] > replayed:
            changes = tuple(Change.from_json(change) for change in raw["changes"])
            entries.append(JournalEntry(raw["seq"], changes))
    return entries
