"""The rate limiter's in-memory counters count as `limits`' own and start no thread per
hit; an upgrade of `limits` that moves the sweep this relies on fails here."""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import memory
from limits.strategies import FixedWindowRateLimiter

from wfplatform.services.limit_counters import SweptMemoryStorage, storage_uri


def test_hits_start_no_thread_and_limits_still_hold(monkeypatch):
    started = []

    class CountedTimer(threading.Timer):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(memory.threading, "Timer", CountedTimer)
    storage = SweptMemoryStorage()
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("5 per minute")
    started.clear()  # the library's first timer, started before ours replaces it
    allowed = []
    for _ in range(8):
        allowed.append(limiter.hit(limit, "user:1"))
        time.sleep(0.02)  # longer than the library's own 10 ms timer
    assert allowed == [True] * 5 + [False] * 3
    assert started == []
    assert limiter.hit(limit, "user:2")  # counted per key


def test_the_sweep_removes_expired_counters():
    storage = SweptMemoryStorage()
    storage.incr("expired", expiry=0.01)
    storage.incr("live", expiry=60)
    time.sleep(0.02)
    storage.sweep()
    assert "expired" not in storage.storage
    assert storage.storage["live"] == 1


def test_memory_means_these_counters_and_other_urls_pass_through():
    assert storage_uri("memory://") == "swept-memory://"
    assert storage_uri("redis://127.0.0.1:6379/3") == "redis://127.0.0.1:6379/3"
