"""The sync journal's lines: one JSON object per entry, and what makes a line damaged.

    {"seq": 7, "at": "2025-05-01T12:00:00+00:00",
     "changes": [{"repository": "users", "key": "<id>", "data": {...} or null}]}

A line is damaged when it is not UTF-8 JSON, or is JSON but not such an entry: a missing
key, a value of the wrong type, a repository the service does not have, a record that
does not decode into its repository's record type (or whose id is not its key), or a
sequence number that does not follow the one before it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..domain.codec import from_dict, utcnow

if TYPE_CHECKING:
    from ..repositories.base import RepositorySpec


@dataclass(frozen=True)
class Change:
    """The state one record must end up in: `data` is None for a removal."""

    repository: str
    key: str
    data: dict[str, Any] | None

    def to_json(self) -> dict:
        return {"repository": self.repository, "key": self.key, "data": self.data}


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    changes: tuple[Change, ...]


class DamagedLine(ValueError):
    """Why a journal line cannot be replayed (never its content: it may hold secrets)."""


def encode(seq: int, changes: list[Change]) -> str:
    entry = {"seq": seq, "at": utcnow().isoformat(), "changes": [c.to_json() for c in changes]}
    return json.dumps(entry, separators=(",", ":"))


def decode(
    line: bytes, after_seq: int, specs: Mapping[str, RepositorySpec] | None = None
) -> JournalEntry:
    """The entry on `line`, whose sequence number must be above `after_seq`; `specs`, when
    given, are the repositories entries may name (their records must decode)."""
    try:
        raw = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedLine("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise DamagedLine(f"not JSON ({error.msg}, column {error.colno})") from None
    if not isinstance(raw, dict):
        raise DamagedLine("not a JSON object")
    seq = raw.get("seq")
    if type(seq) is not int or seq <= after_seq:
        raise DamagedLine(f"seq must be an integer above {after_seq}")
    changes = raw.get("changes")
    if not isinstance(changes, list) or not changes:
        raise DamagedLine("changes must be a non-empty list")
    return JournalEntry(seq, tuple(_change(item, n, specs) for n, item in enumerate(changes)))


def _change(item: Any, n: int, specs: Mapping[str, RepositorySpec] | None) -> Change:
    where = f"changes[{n}]"
    if not isinstance(item, dict) or not {"repository", "key", "data"} <= item.keys():
        raise DamagedLine(f"{where} must be an object with repository, key and data")
    repository, key, data = item["repository"], item["key"], item["data"]
    if not isinstance(repository, str) or not isinstance(key, str):
        raise DamagedLine(f"{where}: repository and key must be strings")
    if data is not None and not isinstance(data, dict):
        raise DamagedLine(f"{where}: data must be an object or null")
    if specs is not None:
        spec = specs.get(repository)
        if spec is None:
            raise DamagedLine(f"{where}: unknown repository {repository!r}")
        if data is not None:
            _check_record(spec, key, data, where)
    return Change(repository, key, data)


def _check_record(spec: RepositorySpec, key: str, data: dict, where: str) -> None:
    try:
        record = from_dict(spec.record_type, data)
    except (TypeError, ValueError) as error:
        # The error's text may quote a value; its type says enough.
        raise DamagedLine(f"{where}: not a {spec.name} record ({type(error).__name__})") from None
    if spec.key(record) != key:
        raise DamagedLine(f"{where}: the record's id is not its key")
