"""The rate limiter's counters in process memory (`memory://`), swept by one thread.

`limits`' memory storage expires counters lazily when it reads them, and after a hit
starts a fresh `threading.Timer` (a new OS thread) to sweep the rest whenever none is
running: under load, up to a hundred thread starts a second per worker. Here one
long-lived daemon thread sweeps instead, once a second; counting stays the library's.
The sweep is the library's own (name-mangled) method: the lock pins the version, and
`tests/unit/test_limit_counters.py` fails if an upgrade changes it."""

from __future__ import annotations

import threading
import weakref

from limits.storage import MemoryStorage

SCHEME = "swept-memory"
SWEEP_SECONDS = 1.0


class SweptMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer = _Sweeper(self)  # alive: the library never starts a timer of its own
        self.timer.start()

    def sweep(self) -> None:
        self._MemoryStorage__expire_events()


class _Sweeper(threading.Thread):
    """Holds the storage weakly, so a storage nobody uses any more is not kept alive."""

    def __init__(self, storage: SweptMemoryStorage) -> None:
        super().__init__(name="rate-limit-sweeper", daemon=True)
        self._storage = weakref.ref(storage)
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            storage = self._storage()
            if storage is None:
                return
            storage.sweep()
            del storage

    def cancel(self) -> None:  # as `threading.Timer`, which the library may cancel
        self._stop.set()


def storage_uri(configured: str) -> str:
    """`memory://` means these counters; any other URL (Redis...) goes to `limits` as is."""
    return f"{SCHEME}://" if configured == "memory://" else configured
