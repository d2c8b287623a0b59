"""In-process concurrency control for the adapter.

* `ModeGate`: operations share it, a mode switch takes it alone, so no operation runs half in
  the old mode and half in the new one.
* `StripedLocks`: writes to the same record hold the same stripe while both backends are
  written, so both see the same order. Stripes are taken in index order: no deadlock.
* `WriteTracker`: counts writes begun and finished per repository, so a shadow comparison can
  tell that a write raced it and skip instead of reporting a false mismatch.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class ModeGate:
    """A readers-writer lock that lets a waiting switch in before new operations."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._switching = False
        self._owner: int | None = None

    @contextmanager
    def operation(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            yield  # a switch may run operations (a guard's check, a backfill) itself
            return
        with self._cond:
            while self._switching:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
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


class WriteTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._begun: Counter[str] = Counter()
        self._finished: Counter[str] = Counter()

    @contextmanager
    def writing(self, repositories: Iterable[str]) -> Iterator[None]:
        names = set(repositories)
        with self._lock:
            self._begun.update(names)
        try:
            yield
        finally:
            with self._lock:
                self._finished.update(names)

    def token(self, repository: str) -> int | None:
        """A token for a quiet moment, or None while a write is in flight."""
        with self._lock:
            begun = self._begun[repository]
            return begun if begun == self._finished[repository] else None

    def unchanged_since(self, repository: str, token: int | None) -> bool:
        return token is not None and self.token(repository) == token


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
