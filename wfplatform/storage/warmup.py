"""Memory copies a starting process must load from the database before it serves them.

In `dual`, memory is a copy a process builds up while it runs; a process that starts
again begins empty, and the database (with the sync journal) is the only durable copy.
Reads from an empty memory would answer wrongly and without a fault (logins failing,
tokens "no longer valid", empty lists), and a fallback to it would serve whatever
memory holds. So `Storage.start()` replays the journal, then loads memory for every
repository in `dual`, whichever backend it reads. Until a repository is loaded it
answers 503 when it reads memory, it has no fallback when it reads the database, and
`/health/ready` says not ready. A repository switched from `database-only` back to
`dual` at runtime (here or by another process) is loaded again the same way. When the
database does not answer at start-up, the storage's background worker tries again every
second.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from ..errors import StorageUnavailable
from .modes import MEMORY, Mode

NOT_LOADED = "its memory copy is still being loaded from the database"
BEHIND = "the database is behind its sync journal, and the memory copy is not loaded yet"


class Warmup:
    """Thread-safe: the repositories whose memory is not loaded yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._generations: Counter[str] = Counter()  # grows with each `expect`

    def expect(self, repositories: Iterable[str]) -> None:
        with self._lock:
            for repository in repositories:
                self._pending.add(repository)
                self._generations[repository] += 1

    def generation(self, repository: str) -> int:
        """Give it back to `mark_loaded`: a load that an `expect` overtook loaded too early."""
        with self._lock:
            return self._generations[repository]

    def expect_walked_back(self, before: dict, after: dict) -> None:
        """Repositories switched from `database-only` back to `dual`: memory stopped
        following the database meanwhile, so its copy is stale until loaded again."""
        self.expect(
            name
            for name, mode in after.items()
            if mode.mode is Mode.DUAL and before[name].mode is Mode.DATABASE_ONLY
        )

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    def is_loaded(self, repository: str) -> bool:
        with self._lock:
            return repository not in self._pending

    def require_servable(self, repository: str, backend: str, journal_pending: bool) -> None:
        """Refuse (a fault, not an answer) to serve a memory copy that is not loaded yet,
        and the database while it is behind its journal with no memory copy to stand in:
        it lacks acknowledged writes, and a write to it would be overwritten by the
        journal's older copy when it is replayed."""
        if self.is_loaded(repository):
            return
        if backend == MEMORY:
            raise StorageUnavailable("memory", f"{repository}: {NOT_LOADED}")
        if journal_pending:
            raise StorageUnavailable("database", f"{repository}: {BEHIND}")

    def mark_loaded(self, repository: str, generation: int) -> None:
        """Memory equals the database now (`Storage.load_memory`, here or an admin's),
        unless a walk back was expected since the load read `generation`."""
        with self._lock:
            if self._generations[repository] == generation:
                self._pending.discard(repository)
