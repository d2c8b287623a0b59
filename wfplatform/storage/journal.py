"""The durable sync journal: database writes that could not be applied yet.

An entry is the final state of every record one unit of work changed (a put carries the
record, a removal carries null), so replaying is idempotent: replaying an entry twice, after
a crash between applying and checkpointing, leaves the same rows. An entry is acknowledged
only after `fsync`; a torn last line (a crash mid-append) was never acknowledged: it is
cut off, and the log says so. Replay progress is a checkpoint file replaced atomically; once
everything is replayed the journal is truncated. Sequence numbers only ever grow.

A damaged journal never stops the service: every intact entry is replayed in order, and a
damaged line (see `journal_format`) is kept aside, appended to `<journal>.damaged` (one JSON
object per line: when, which file and line, why, and the line's text), dropped from the
journal and reported (the log, `set_aside_lines()` for readiness, the admin overview and
the metrics). An operator repairs or discards those writes, then moves the file away.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.codec import utcnow
from .journal_format import Change, DamagedLine, JournalEntry, decode, encode
from .private_files import owner_only

if TYPE_CHECKING:
    from ..repositories.base import RepositorySpec

log = logging.getLogger(__name__)
SET_ASIDE_SUFFIX = ".damaged"
REWRITE_SUFFIX = ".rewrite"
NOT_JOURNALS = (".checkpoint", ".tmp", SET_ASIDE_SUFFIX, REWRITE_SUFFIX)
SAMPLES = 10


@dataclass
class Damage:
    """What this process found reading journal files: torn last lines cut off, damaged
    lines kept aside, and the first few of those (file, line, reason)."""

    torn: int = 0
    damaged: int = 0
    samples: list[dict] = field(default_factory=list)


def damage_warning(lines: int) -> str | None:
    """The warning readiness and the admin overview show while lines are kept aside."""
    if not lines:
        return None
    return (
        f"{lines} damaged sync-journal lines were kept aside, not replayed: their writes "
        "may be missing from the database (GET /admin/migration says where)"
    )


class SyncJournal:
    """Thread-safe. A process owns its journal file through an exclusive `flock`: with
    several processes on one path, the others take `<path>.<id>` files, and a starting
    process adopts the files of processes that are gone (`adopt_orphans`)."""

    def __init__(
        self, path: str | os.PathLike, specs: Mapping[str, RepositorySpec] | None = None
    ) -> None:
        """`specs`: the repositories entries may name; their records must decode."""
        self._base = Path(path)
        self._base.parent.mkdir(parents=True, exist_ok=True)
        self._specs = specs
        self.set_aside_path = self._base.with_name(self._base.name + SET_ASIDE_SUFFIX)
        self.damage = Damage()
        self._set_aside_count: tuple[tuple[int, int], int] = ((0, 0), 0)
        self.path, self._file = _claim(self._base)
        self._checkpoint_path = _checkpoint_of(self.path)
        self._lock = threading.Lock()
        self._replayed = _read_checkpoint(self._checkpoint_path)
        entries, intact = self._read(self.path)
        if intact is not None:
            self._rewrite(intact)
        self._pending = [entry for entry in entries if entry.seq > self._replayed]
        self._next_seq = max([self._replayed, *(e.seq for e in entries)]) + 1

    def adopt_orphans(self) -> int:
        """Take over the pending entries of journal files no live process holds; returns
        how many entries were adopted (they are replayed with ours, before ours)."""
        adopted = 0
        for candidate in sorted(self._base.parent.glob(self._base.name + "*")):
            if candidate == self.path or candidate.suffix in NOT_JOURNALS:
                continue
            handle = _lock_or_none(candidate)
            if handle is None:
                continue  # a live process owns it
            try:
                checkpoint = _checkpoint_of(candidate)
                replayed = _read_checkpoint(checkpoint)
                for entry in self._read(candidate)[0]:
                    if entry.seq > replayed:
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
            self._file.write(encode(entry.seq, changes) + "\n")
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

    def set_aside_lines(self) -> int:
        """Lines in the set-aside file (by any process on this path), until it is moved away."""
        try:
            stat = self.set_aside_path.stat()
        except FileNotFoundError:
            return 0
        version = (stat.st_size, stat.st_mtime_ns)
        if self._set_aside_count[0] != version:
            with open(self.set_aside_path, "rb") as handle:
                self._set_aside_count = (version, handle.read().count(b"\n"))
        return self._set_aside_count[1]

    def _write_checkpoint(self) -> None:
        tmp = self._checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", opener=owner_only) as handle:
            handle.write(str(self._replayed))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._checkpoint_path)

    # -- reading back ---------------------------------------------------------------------------
    def _read(self, path: Path) -> tuple[list[JournalEntry], list[bytes] | None]:
        """Every intact entry of `path`, in order. Damaged lines are set aside; then the
        intact lines come back too (the file must lose the damaged ones), else None."""
        entries: list[JournalEntry] = []
        intact: list[bytes] = []
        damaged: list[tuple[int, bytes, str]] = []
        for number, line in enumerate(self._complete_lines(path), 1):
            if not line.strip():
                continue  # holds nothing
            try:
                entry = decode(line, entries[-1].seq if entries else 0, self._specs)
            except DamagedLine as why:
                damaged.append((number, line, str(why)))
                continue
            entries.append(entry)
            intact.append(line)
        if not damaged:
            return entries, None
        self._set_aside(path, damaged)
        return entries, intact

    def _complete_lines(self, path: Path) -> list[bytes]:
        """The file's complete lines. A torn last append (a crash mid-write, never
        acknowledged) is cut off, or the next append would extend it into garbage."""
        with open(path, "rb+") as handle:
            data = handle.read()
            complete = data.rfind(b"\n") + 1
            if complete < len(data):
                handle.truncate(complete)
                os.fsync(handle.fileno())
                self.damage.torn += 1
                log.warning(
                    "the sync journal %s ended in a torn line (%d bytes): a write cut short "
                    "by a crash, never acknowledged; it was dropped",
                    path,
                    len(data) - complete,
                )
        return data[:complete].split(b"\n")[:-1]

    def _set_aside(self, path: Path, damaged: list[tuple[int, bytes, str]]) -> None:
        kept = self._kept_aside()  # a start cut short before its rewrite kept these already
        damaged = [
            (number, line, reason)
            for number, line, reason in damaged
            if (path.name, line.decode("utf-8", "backslashreplace")) not in kept
        ]
        if not damaged:
            return
        at = utcnow().isoformat()
        text = "".join(
            json.dumps(
                {
                    "at": at,
                    "journal": path.name,
                    "line": number,
                    "reason": reason,
                    "text": line.decode("utf-8", "backslashreplace"),
                }
            )
            + "\n"
            for number, line, reason in damaged
        )
        with open(self.set_aside_path, "a", encoding="utf-8", opener=owner_only) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        self.damage.damaged += len(damaged)
        for number, _, reason in damaged:
            if len(self.damage.samples) < SAMPLES:
                self.damage.samples.append({"journal": path.name, "line": number, "reason": reason})
        log.error(
            "%d damaged lines of the sync journal %s were kept aside in %s and not replayed "
            "(%s): their writes may be missing from the database",
            len(damaged),
            path,
            self.set_aside_path,
            "; ".join(f"line {number}: {reason}" for number, _, reason in damaged[:SAMPLES]),
        )

    def _kept_aside(self) -> set[tuple[str, str]]:
        """(journal file, text) of every line in the set-aside file."""
        try:
            lines = self.set_aside_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return set()
        kept = set()
        for line in lines:
            try:
                raw = json.loads(line)
                kept.add((raw["journal"], raw["text"]))
            except (ValueError, KeyError, TypeError):
                continue  # an operator's edit: keep it, it names nothing
        return kept

    def _rewrite(self, intact: list[bytes]) -> None:
        """Replace our file by its intact lines, atomically and still locked by us, so the
        damaged lines are kept aside once, not again at every start."""
        tmp = self.path.with_name(self.path.name + REWRITE_SUFFIX)
        handle = open(tmp, "w", encoding="utf-8", opener=owner_only)  # noqa: SIM115 (it becomes the journal)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write("".join(line.decode("utf-8") + "\n" for line in intact))
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._file.close()
        self._file = handle


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
    """Entries up to this number are replayed. An unreadable checkpoint means replaying
    them again, which is safe (see the module doc)."""
    try:
        return int(path.read_text().strip() or 0)
    except FileNotFoundError:
        return 0
    except (ValueError, UnicodeDecodeError):
        log.warning("the journal checkpoint %s is unreadable: replaying from the start", path)
        return 0
