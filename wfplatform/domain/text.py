"""Text every backend can store: valid Unicode without NUL.

A lone UTF-16 surrogate (U+D800..U+DFFF on its own, e.g. the JSON escape `\\ud800`) is not
valid Unicode: UTF-8 cannot encode it, so SQLite's and PostgreSQL's drivers, Argon2 and a
UTF-8 export all fail on it. NUL (U+0000) is valid Unicode, but PostgreSQL stores it in
neither a text nor a jsonb column, and SQLite's LIKE stops reading a pattern at it (so a
search for it matches everything). Every other character, control characters included
(tab, escape, bell...), is stored as it is by every backend and is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# ASCII JSON (Python's encoder) writes a NUL as \u0000 and a surrogate as \udXXX
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|d[89a-f])")
NUL = "a NUL character (\\u0000), which cannot be stored"
SURROGATE = "a lone UTF-16 surrogate (not valid Unicode), which cannot be stored"
SCHEMA = "_schema"  # where marshmallow reports what is wrong with an object as a whole
MAX_PROBLEMS = 10
REPLACEMENT = "\ufffd"  # what a decoder writes for what it cannot read

Path = tuple[str | int, ...]


def problem(text: str) -> str | None:
    """What makes `text` unstorable, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL if found.group() == "\x00" else SURROGATE


def unstorable(value: Any) -> Iterator[tuple[Path, str]]:
    """Where JSON-shaped `value` holds unstorable text, as (path, message): a string at its
    path, an object key at its object's path + `_schema` (the key itself is never echoed).
    Walks with a stack, so any depth the JSON parser accepted is fine here."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            message = problem(item)
            if message:
                yield path, f"holds {message}"
        elif isinstance(item, dict):
            for key, child in item.items():
                message = problem(key) if isinstance(key, str) else None
                if message:
                    yield (*path, SCHEMA), f"an object key holds {message}"
                else:
                    stack.append(((*path, key), child))
        elif isinstance(item, list | tuple):
            stack.extend(((*path, index), child) for index, child in enumerate(item))


def scrub(value: Any) -> Any:
    """JSON-shaped `value` with every unstorable character, in strings and object keys,
    replaced by U+FFFD (for records stored before such text was refused)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {scrub(key): scrub(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(child) for child in value]
    return value


def text_problems(
    fields: dict[str, Any], limit: int = MAX_PROBLEMS, encoded: str | None = None
) -> dict[str | int, Any]:
    """The first `limit` places in `fields` holding unstorable text, shaped like
    marshmallow's error details (`{"nodes": {0: {"name": ["holds ..."]}}}`); empty when
    there are none. `encoded`: the fields as `json.dumps` wrote them a moment ago (in any
    key order and spacing), when the caller has them: the quick look reads it instead."""
    tree: dict[str | int, Any] = {}
    may_hold = escapes_unstorable(encoded) if encoded is not None else _may_hold_unstorable(fields)
    if not may_hold:
        return tree
    for count, (path, message) in enumerate(unstorable(fields)):
        if count == limit:
            break
        _place(tree, path, message)
    return tree


def _may_hold_unstorable(value: Any) -> bool:
    """A quick look, at C speed (a record is checked at every write): False proves `value`
    clean. Characters beyond U+FFFF (escaped as surrogate pairs) only cost the walk."""
    try:
        encoded = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):  # not JSON-shaped, or too deep: walk it
        return True
    return escapes_unstorable(encoded)


def escapes_unstorable(encoded: str) -> bool:
    """Whether JSON `json.dumps` wrote (ASCII, its default) may hold unstorable text:
    False proves it clean."""
    return _ESCAPED_UNSTORABLE.search(encoded) is not None


def _place(tree: dict, path: Path, message: str) -> None:
    node = tree
    for step in path[:-1]:
        node = node.setdefault(step, {})
        if not isinstance(node, dict):  # a message already sits here: that one is enough
            return
    messages = node.setdefault(path[-1], [])
    if isinstance(messages, list):
        messages.append(message)
