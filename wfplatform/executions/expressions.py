"""`{{ $json.path }}` in a node's parameters: a field of the item the node is working on.

Only a path into the item is understood (`$json.customer.email`, `$json.lines.0.price`),
never code: a parameter cannot run anything. A string that is one expression takes the
value's own type (`{{ $json.total }}` is a number); expressions inside a longer string are
written into it as text (objects and lists as JSON). A path that leads nowhere is null, or
the empty string inside text."""

from __future__ import annotations

import json
import re
from typing import Any

EXPRESSION = re.compile(r"\{\{\s*\$json((?:\.[^.\s{}]+)*)\s*\}\}")


def resolve(value: Any, item: dict[str, Any]) -> Any:
    """`value` (a parameter: any JSON) with its expressions replaced for `item`."""
    if isinstance(value, str):
        return _resolve_text(value, item)
    if isinstance(value, dict):
        return {key: resolve(child, item) for key, child in value.items()}
    if isinstance(value, list):
        return [resolve(child, item) for child in value]
    return value


def _resolve_text(text: str, item: dict[str, Any]) -> Any:
    whole = EXPRESSION.fullmatch(text.strip())
    if whole:
        return _lookup(item, whole.group(1))
    if "{{" not in text:
        return text
    return EXPRESSION.sub(lambda found: _as_text(_lookup(item, found.group(1))), text)


def _lookup(item: Any, path: str) -> Any:
    value = item
    for step in path.split(".")[1:]:
        if isinstance(value, dict):
            value = value.get(step)
        elif (
            isinstance(value, list) and step.isascii() and step.isdigit() and int(step) < len(value)
        ):
            value = value[int(step)]
        else:
            return None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
