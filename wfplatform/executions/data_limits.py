"""Execution data is bounded.

- Stored: a node's input or output larger than `per_value`, or past what is left of the
  execution's `per_execution`, is stored as a marker saying what was cut (the marker
  counts against the budget too; when not even a marker fits, nothing is stored and the
  node execution's `truncated` flag says so). So a run stores at most `per_execution`.
- Carried: the run goes on with the whole data, but a node whose output could not be
  stored at all (larger than `per_execution`, nested deeper than JSON allows here, or
  holding a number JSON has not) fails: items that double at every node stop there
  instead of filling the worker's memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from ..services.workflow_content import plain_json


class Unfit(Exception):
    """A value no execution can carry on with; the message says why."""


def size_of(value: Any, most: int | None = None) -> int:
    """Its bytes as compact JSON; `Unfit` when it is not JSON every backend stores, or
    (with `most`) larger than `most` bytes. Measured first (in C), then walked for its
    depth, so a value too large is refused before it is walked."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise Unfit(f"not JSON every backend stores ({type(error).__name__})") from None
    size = len(text.encode())
    if most is not None and size > most:
        raise Unfit(f"{size} bytes, more than a run may hold (WF_EXECUTION_MAX_DATA_BYTES {most})")
    try:
        plain_json(value)
    except ValidationError as refused:
        raise Unfit(" ".join(refused.messages)) from None
    return size


def _marker(size: int, limit: str) -> dict[str, Any]:
    return {"truncated": True, "bytes": size, "limit": limit}


@dataclass
class DataBudget:
    per_value: int
    per_execution: int
    used: int = 0
    cut: int = 0  # values stored as a marker, or not at all

    def check(self, value: Any) -> int:
        """The size of a value a node made; `Unfit` past what one run may hold."""
        return size_of(value, self.per_execution)

    def keep(self, value: Any, size: int) -> tuple[Any, bool]:
        """What to store of `value` (`size` bytes), and whether it was cut."""
        left = self.per_execution - self.used
        if size <= self.per_value and size <= left:
            self.used += size
            return value, False
        self.cut += 1
        marker = _marker(size, "node" if size > self.per_value else "execution")
        cost = size_of(marker)
        if cost > left:
            return None, True
        self.used += cost
        return marker, True
