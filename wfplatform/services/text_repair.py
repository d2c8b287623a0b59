"""Repairing records stored before text no backend can store was refused.

An earlier version accepted lone surrogates and NUL; such a record breaks nothing now (an
export escapes it, a backfill reports it as invalid), but it cannot reach the database, so
it stays only in memory and the guards refuse the flip of reads for good. The repair
replaces each such character by U+FFFD (what a decoder shows for what it could not read),
record by record through the adapter, so both backends and the shadow reads see a normal
write; each repaired record is audited with the names of the fields it changed, never
their values. A record the repair would make clash with another (two emails that differ
only in such a character) is reported as refused, for an operator to repair by hand. It
runs in the service (over HTTP): memory lives in the service's process."""

from __future__ import annotations

from ..domain.codec import from_dict, to_dict
from ..domain.text import scrub, text_problems
from ..errors import DomainError
from ..storage.adapter import Storage
from . import audit
from .context import Actor

ACTION = "text.repair"
MAX_IDS = 100


def repair_text(
    storage: Storage, actor: Actor, repositories: list[str] | None = None, dry_run: bool = False
) -> dict:
    """Repair (or, with `dry_run`, find) every record of `repositories` (all by default)
    holding unstorable text, in the backend each reads from now."""
    repaired: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    refused: dict[str, dict[str, str]] = {}
    for name in repositories or list(storage.repository_names):
        with storage.reading(name) as repository:
            keys = [
                repository.spec.key(record)
                for record in repository.iter_all()
                if text_problems(to_dict(record))
            ]
        done = []
        for key in keys:
            try:
                if dry_run or _repair(storage, name, key, actor):
                    done.append(key)
            except DomainError as error:  # e.g. two emails that become one: repair by hand
                refused.setdefault(name, {})[key] = error.message
        if done:
            repaired[name] = len(done)
            ids[name] = done[:MAX_IDS]
    return {"dry_run": dry_run, "repaired": repaired, "ids": ids, "refused": refused}


def _repair(storage: Storage, name: str, key: str, actor: Actor) -> bool:
    """Repair the record as it is now (it may have changed since it was found); False when
    it needed no repair any more."""

    def repair(uow) -> bool:
        record = uow.repository(name).get(key)
        data = to_dict(record) if record is not None else {}
        problems = text_problems(data)
        if not problems:
            return False
        uow.repository(name).restore(from_dict(type(record), scrub(data)))
        audit.record(uow, actor, ACTION, name, key, {"fields": sorted(map(str, problems))})
        return True

    return storage.atomic(repair)
