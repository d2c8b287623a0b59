"""Records read from the database by key, kept in the process while the database tells
every process of each change to them (see `change_feed`).

A cached record is served only while all of these hold, so a change is never missed:
- the change feed is live: it heard from the database within `LIVE_SECONDS` (it is
  cleared and bypassed while the feed is down, and cleared again when it is back);
- no write of this process to the record began since it was read (the write tracker's
  token for its stripe is the one it was kept with): this process's own writes count at
  once, without waiting for the database's notice;
- the repository's mode is the one it was read in.
A read that began before a change the feed then heard of keeps nothing, so an old state
read just before the change cannot outlive its notice. Thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..domain.codec import copy_record
from .locks import WriteTracker
from .modes import RepositoryMode

LIVE_SECONDS = 3.0  # the feed proves itself alive every second (`change_feed.POLL_SECONDS`)


@dataclass(frozen=True)
class Ticket:
    """What a read learnt before it went to the database; `record` is the cached copy
    when one could be served."""

    repository: str
    key: str
    mode: RepositoryMode
    token: int | None
    heard: int
    record: Any = None


@dataclass(frozen=True)
class _Entry:
    record: Any
    mode: RepositoryMode
    token: int


class RecordCache:
    """`capacity` records at most (0: nothing is ever kept); the oldest kept goes first."""

    def __init__(self, tracker: WriteTracker, capacity: int) -> None:
        self._tracker = tracker
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._heard = 0  # changes heard from the database so far
        self._alive_at: float | None = None  # when the feed last heard from the database
        self._announced: frozenset[str] = frozenset()  # repositories the database tells of

    # -- the feed's side ----------------------------------------------------------------------
    def alive(self, announced: Iterable[str] | None = None) -> None:
        """The feed heard from the database; `announced`: the repositories whose changes
        it tells of, once it (re)connected (no other repository is ever served)."""
        if announced is not None:
            self._announced = frozenset(announced)
        self._alive_at = time.monotonic()

    def lost(self) -> None:
        """The feed lost the database: nothing kept can be trusted any more."""
        with self._lock:
            self._alive_at = None
            self._heard += 1
            self._entries.clear()

    def changed(self, repository: str, key: str | None) -> None:
        """The database says the record changed; None: every record of `repository`."""
        with self._lock:
            self._heard += 1
            if key is None:
                for cached in [k for k in self._entries if k[0] == repository]:
                    del self._entries[cached]
            else:
                self._entries.pop((repository, key), None)

    # -- the reader's side --------------------------------------------------------------------
    def is_live(self, repository: str | None = None) -> bool:
        """Whether the cache serves now (`repository`'s records, if one is named)."""
        alive_at = self._alive_at
        return (
            self.capacity > 0
            and alive_at is not None
            and time.monotonic() - alive_at < LIVE_SECONDS
            and (repository is None or repository in self._announced)
        )

    def ticket(self, repository: str, key: str, mode: RepositoryMode) -> Ticket:
        token = self._tracker.token(repository, key)
        with self._lock:
            entry = self._entries.get((repository, key))
            record = None
            if entry is not None and entry.token == token and entry.mode == mode:
                record = copy_record(entry.record)
            return Ticket(repository, key, mode, token, self._heard, record)

    def keep(self, ticket: Ticket, record: Any) -> None:
        """Keep what the database answered to `ticket`'s read, unless something changed
        the record meanwhile (or may have)."""
        tracker = self._tracker
        if record is None or ticket.token is None:
            return
        with self._lock:
            if ticket.heard != self._heard or not self.is_live(ticket.repository):
                return
            if not tracker.unchanged_since(ticket.repository, ticket.token, ticket.key):
                return
            entries = self._entries
            entries.pop((ticket.repository, ticket.key), None)
            if len(entries) >= self.capacity:
                del entries[next(iter(entries))]
            entries[(ticket.repository, ticket.key)] = _Entry(
                copy_record(record), ticket.mode, ticket.token
            )

    def describe(self) -> dict[str, Any]:
        return {"live": self.is_live(), "records": len(self._entries), "capacity": self.capacity}
