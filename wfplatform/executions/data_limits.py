"""Execution data is bounded: a node's stored input or output larger than its limit, or
past what is left of the execution's, is stored as a marker saying what was cut. The run
itself goes on with the whole data; only what is stored is cut (and counted)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class DataBudget:
    per_value: int
    per_execution: int
    used: int = 0
    cut: int = 0  # values stored as a marker

    def keep(self, value: Any) -> tuple[Any, bool]:
        """What to store of `value`, and whether it was cut."""
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        left = self.per_execution - self.used
        if size <= self.per_value and size <= left:
            self.used += size
            return value, False
        self.cut += 1
        limit = "node" if size > self.per_value else "execution"
        return {"truncated": True, "bytes": size, "limit": limit}, True
