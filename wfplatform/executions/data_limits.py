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


def size_of(value: Any) -> int:
    """Its bytes as compact JSON; `Unfit` when it is not JSON every backend stores."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise Unfit(f"not JSON every backend stores ({type(error).__name__})") from None
    return len(text.encode())


def _marker(size: int, limit: str) -> dict[str, Any]:
    return {"truncated": True, "bytes": size, "limit": limit}


@dataclass
class DataBudget:
    per_value: int
    per_execution: int
    used: int = 0
    cut: int = 0  # values stored as a marker, or not at all

    def check(self, outputs: list[list[Any]]) -> int:
        """The size of the outputs a node made; `Unfit` past what one run may hold, or
        for an item nested deeper than the API lets an input nest. Measured first (in C),
        then walked, so outputs too large are refused before they are walked."""
        size = size_of(outputs)
        if size > self.per_execution:
            raise Unfit(
                f"{size} bytes, more than a run may hold "
                f"(WF_EXECUTION_MAX_DATA_BYTES {self.per_execution})"
            )
        try:
            for output in outputs:
                for item in output:
                    plain_json(item)
        except ValidationError as refused:
            raise Unfit(" ".join(refused.messages)) from None
        return size

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
