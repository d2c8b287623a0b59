"""How often a node is tried, and how long the engine waits between tries: a node's
`retry` object (docs/NODES.md), one try when it has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    interval_seconds: float = 1.0
    backoff: float = 2.0
    max_interval_seconds: float = 60.0

    @classmethod
    def of(cls, node: dict[str, Any]) -> RetryPolicy:
        """The node's policy (checked when the workflow was stored, see `RetrySchema`)."""
        given = node.get("retry") or {}
        return cls(**{name: given[name] for name in cls.__dataclass_fields__ if name in given})

    def delay(self, attempt: int) -> float:
        """Seconds to wait after try number `attempt` failed."""
        return min(self.interval_seconds * self.backoff ** (attempt - 1), self.max_interval_seconds)
