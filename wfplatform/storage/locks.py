"""In-process concurrency control for the adapter.

* `ModeGate`: operations share it, a mode switch takes it alone, so no operation runs half in
  the old mode and half in the new one.
* `StripedLocks`: writes to the same record hold the same stripe while both backends are
  written, so both see the same order. Stripes are taken in index order: no deadlock.
* `WriteTracker`: counts writes begun and finished per repository and per stripe of keys, so
  a shadow comparison can tell that a write raced it and skip instead of reporting a false
  mismatch; and tells open `Watch`es which records were written, so a switch's comparison
  made before it takes the gate needs to look again only at those.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any


class ModeGate:
    """A readers-writer lock that lets a waiting switch in before new operations."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._switching = False
        self._owner: int | None = None

    def operation(self) -> AbstractContextManager[None]:
        """Held around every operation: the gate itself rather than a generator, since
        every read enters it (a generator context manager costs several times as much)."""
        return self

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            return  # a switch may run operations (a guard's check, a backfill) itself
        with self._cond:
            while self._switching:
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        if self._owner == threading.get_ident():
            return  # the switch that owns the gate is this thread's, and outlives the call
        with self._cond:
            self._active -= 1
            if self._switching and not self._active:  # the switch waits for the last one
                self._cond.notify_all()

    @contextmanager
    def switch(self, timeout: float = 30.0) -> Iterator[None]:
        with self._cond:
            while self._switching:
                self._cond.wait()
            self._switching = True
            if not self._cond.wait_for(lambda: self._active == 0, timeout=timeout):
                self._switching = False
                self._cond.notify_all()
                raise TimeoutError("operations still running; try the switch again")
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._owner = None
                self._switching = False
                self._cond.notify_all()


class LockTimeout(Exception):
    """A record lock could not be had in time (the caller backs off and retries)."""


class StripedLocks:
    def __init__(self, stripes: int = 512) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def _stripe(self, repository: str, key: str) -> int:
        return zlib.crc32(f"{repository}\0{key}".encode()) % len(self._locks)

    @contextmanager
    def hold(
        self, records: Iterable[tuple[str, str]], timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the stripes of `records`; with a `timeout`, give up (`LockTimeout`) rather
        than wait longer for one of them."""
        stripes = sorted({self._stripe(repository, key) for repository, key in records})
        taken = []
        try:
            for stripe in stripes:
                if not self._locks[stripe].acquire(timeout=-1 if timeout is None else timeout):
                    raise LockTimeout(f"a record lock stayed taken for {timeout}s")
                taken.append(stripe)
            yield
        finally:
            for stripe in reversed(taken):
                self._locks[stripe].release()


class Watch:
    """The keys of `repositories` written since the watch began, or since they were last
    taken. Past `limit` keys of one repository it gives that repository up (taking then
    answers None: look at everything again), so a flood of writes costs no more memory."""

    def __init__(self, repositories: Iterable[str], limit: int, lock: threading.Lock) -> None:
        self._written: dict[str, set[str] | None] = {name: set() for name in repositories}
        self._limit = limit
        self._lock = lock  # the tracker's: notes arrive under it

    def note(self, records: Iterable[tuple[str, str]]) -> None:
        """Called with the tracker's lock held."""
        for repository, key in records:
            keys = self._written.get(repository)
            if keys is None:
                continue  # not watched, or given up
            keys.add(key)
            if len(keys) > self._limit:
                self._written[repository] = None

    def restart(self, repository: str) -> None:
        """Forget what was written so far (given up or not), and watch on."""
        with self._lock:
            self._written[repository] = set()

    def pending(self, repository: str) -> int | None:
        """How many keys of `repository` wait to be taken; None once given up."""
        with self._lock:
            keys = self._written[repository]
            return None if keys is None else len(keys)

    def take(self, repository: str) -> set[str] | None:
        """The keys written since the last take, watching on; None once given up."""
        with self._lock:
            keys = self._written[repository]
            if keys is not None:
                self._written[repository] = set()
            return keys


class WriteTracker:
    """Writes begun and finished, per repository and per stripe of record keys. A read of
    one record by its key is raced only by writes to that record (its stripe): counting
    per stripe lets it be compared while other records of the repository are written.
    Any other read (a list, a lookup by email) may be changed by any write to the
    repository, so it goes by the repository's count.

    Open watches are told of each written record when its write begins and again when it
    ends, so a watch begun while a write was under way hears of it too."""

    def __init__(self, stripes: int = 1024) -> None:
        self._stripes = stripes
        self._lock = threading.Lock()
        self._begun: Counter[Hashable] = Counter()
        self._finished: Counter[Hashable] = Counter()
        self._watches: list[Watch] = []

    @contextmanager
    def writing(self, records: Iterable[tuple[str, str]]) -> Iterator[None]:
        records = list(records)
        slots = {repository for repository, _ in records}
        slots |= {self._slot(repository, key) for repository, key in records}
        with self._lock:
            self._begun.update(slots)
            self._tell_watches(records)
        try:
            yield
        finally:
            with self._lock:
                self._finished.update(slots)
                self._tell_watches(records)

    @contextmanager
    def copying(self, records: Iterable[tuple[str, str]]) -> Iterator[None]:
        """Around copies of memory's records into the database where it lacks them (lazy
        sync, parents copied first): no read answers otherwise afterwards (a database read
        that finds nothing copies the record itself), so shadow reads need not skip, but
        a comparison of the backends must hear of them."""
        records = list(records)
        with self._lock:
            self._tell_watches(records)
        try:
            yield
        finally:
            with self._lock:
                self._tell_watches(records)

    @contextmanager
    def watching(self, repositories: Iterable[str], limit: int) -> Iterator[Watch]:
        watch = Watch(repositories, limit, self._lock)
        with self._lock:
            self._watches.append(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.remove(watch)

    def token(self, repository: str, key: Any = None) -> int | None:
        """A token for a quiet moment of the repository (or of the record `key`), or None
        while a write is in flight."""
        slot = repository if key is None else self._slot(repository, key)
        with self._lock:
            begun = self._begun[slot]
            return begun if begun == self._finished[slot] else None

    def unchanged_since(self, repository: str, token: int | None, key: Any = None) -> bool:
        return token is not None and self.token(repository, key) == token

    def _slot(self, repository: str, key: Any) -> tuple[str, int]:
        return repository, zlib.crc32(str(key).encode()) % self._stripes

    def _tell_watches(self, records: list[tuple[str, str]]) -> None:
        for watch in self._watches:
            watch.note(records)


class CommitSequencer:
    """Lets dual writes reach the database in the order they committed in memory.

    Writes to related records (a workflow deleted, then its owner; an email freed, then
    taken) hold different record locks, yet the database's foreign and unique keys need
    them in commit order. A ticket is taken while the memory commit holds the store lock;
    each ticket holder replicates only when every earlier one has."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._issued = 0
        self._next = 1

    def take(self) -> int:
        with self._cond:
            self._issued += 1
            return self._issued

    @contextmanager
    def turn(self, ticket: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._next == ticket)
        try:
            yield
        finally:
            with self._cond:
                self._next += 1
                self._cond.notify_all()
