"""What counts as "the same" across backends: the normalised JSON form of the results."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..domain.codec import to_dict
from ..repositories.base import Page


def normalise(value: Any) -> Any:
    if isinstance(value, Page):
        items = [normalise(item) for item in value.items]
        return {"total": value.total, "total_exact": value.total_exact, "items": items}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    return value


def differing_fields(left: dict | None, right: dict | None) -> list[str]:
    """Names of the fields that differ (never their values: they may be secret)."""
    if left is None or right is None:
        return []
    return sorted(name for name in left.keys() | right.keys() if left.get(name) != right.get(name))


def record_ids(value: Any) -> list[str]:
    """The ids a result mentions, for mismatch samples."""
    if isinstance(value, dict) and "items" in value:
        return [item.get("id") for item in value["items"]][:10]
    if isinstance(value, dict):
        return [value.get("id")]
    if isinstance(value, list):
        return [item.get("id") for item in value if isinstance(item, dict)][:10]
    return []
