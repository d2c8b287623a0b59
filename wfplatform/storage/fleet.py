"""What every process using the database says about itself, for the guards.

Each process keeps its own sync journal and its own counts of recent operations, errors
and mismatches. A switch is decided in whichever process serves the request, so each
process publishes these with its heartbeat (`ProcessRegistry.beat`), and the guards add
up what the others published to this process's own: a journal waiting in another worker,
or errors another worker saw, refuse a step forward as they would here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .parts import StorageParts
from .recent import WINDOW_SECONDS


def activity(parts: StorageParts) -> dict[str, Any]:
    """This process's contribution, as its heartbeat publishes it."""
    return {
        "journal": len(parts.journal),
        "recent": {name: dict(parts.stats.recent(name)) for name in parts.bindings},
    }


@dataclass
class Others:
    """What the other processes seen within the window published: their journals (a dead
    process's file waits to be adopted, so its last word still counts; once adopted it is
    counted twice for at most the window, which only errs on the safe side) and their
    recent counts."""

    journal: int = 0
    recent: dict[str, Counter] = field(default_factory=dict)

    def recent_of(self, repository: str) -> Counter:
        return self.recent.get(repository, Counter())


def others(parts: StorageParts) -> Others:
    result = Others()
    window = timedelta(seconds=WINDOW_SECONDS)
    for published in parts.processes.activity_of_others(window):
        result.journal += int(published.get("journal", 0))
        for name, counts in published.get("recent", {}).items():
            result.recent.setdefault(name, Counter()).update(counts)
    return result
