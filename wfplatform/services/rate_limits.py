"""Fixed-window rate limits counted by the `limits` library, in process memory or Redis.

Limits are `limits`' text (`300 per minute`), parsed once each. A counter store that
fails (Redis down) lets requests through, logged once when it starts failing and once
when it counts again: a rate limit protects the service from its clients, and must not
take it down with its own infrastructure. (Logins are the exception: see
`login_throttle`.)"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage as Counters
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from .limit_counters import storage_uri

log = logging.getLogger(__name__)


def open_counters(url: str) -> Counters:
    """The counters at `url` (`memory://` or `redis://...`), their faults as `StorageError`."""
    return storage_from_string(storage_uri(url), wrap_exceptions=True)


class CounterFaults:
    """Says when the counters start failing and when they answer again, once each: an
    outage under load must not write a line per request."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._failing = False

    def failed(self, fault: StorageError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("%s not counted: %s", self._what, fault.storage_error)

    def answered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("%s counted again", self._what)


@functools.lru_cache(maxsize=64)
def parsed(limit: str) -> RateLimitItem:
    """`limit` parsed; a ValueError says what is wrong with it."""
    return parse(limit)


@dataclass(frozen=True)
class Verdict:
    """One counted request: whether it may go on, and the window it was counted in."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # unix seconds

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window lets requests through again."""
        return max(1, math.ceil(self.reset_at - time.time()))


class RateLimits:
    def __init__(self, counters: Counters, prefix: str = "") -> None:
        self.counters = counters
        self._window = FixedWindowRateLimiter(counters)
        self._prefix = prefix
        self._faults = CounterFaults("rate limits are")

    def hit(self, limit: str, scope: str, key: str) -> Verdict:
        """Count one request of `key` against `limit` in `scope` (limits of different
        scopes never share a count)."""
        item = parsed(limit)
        identity = (self._prefix, scope, key)
        try:
            allowed = self._window.hit(item, *identity)
            window = self._window.get_window_stats(item, *identity)
        except StorageError as fault:
            self._faults.failed(fault)
            return Verdict(True, item.amount, item.amount, time.time() + item.get_expiry())
        self._faults.answered()
        return Verdict(allowed, item.amount, window.remaining, window.reset_time)
