"""Making memory equal to the database: at start-up, for the copies `warmup` waits for,
and when an operator loads memory before reads move back to it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..backends.sql import new_session, translate_faults
from ..errors import GuardRefused, StorageUnavailable
from . import verify
from .modes import MEMORY, Mode
from .parts import StorageParts

JOURNAL_PENDING = "the journal holds writes the database lacks: replay it first"
MEMORY_IS_PRIMARY = (
    "memory is the primary copy here: records not in the database yet would be deleted "
    "(load memory only while reads come from the database)"
)
log = logging.getLogger(__name__)
Replay = Callable[[], Any]  # `Storage.replay_journal`


def warm_up(parts: StorageParts, replay: Replay) -> None:
    """Replay the journal (it holds acknowledged writes the database lacks), then load
    each repository `warmup` waits for. A database fault leaves the rest for the next try."""
    if len(parts.journal):
        replay()
        if len(parts.journal):
            return  # the database is behind: loading now would miss those writes
    for name in parts.warmup.pending():
        if parts.modes.get(name).mode is Mode.DATABASE_ONLY:
            parts.warmup.mark_loaded(name, parts.warmup.generation(name))  # no copy needed
            continue
        started = time.perf_counter()
        try:
            changed = load_memory(parts, name)
        except StorageUnavailable as fault:
            log.warning("memory of %s not loaded yet: %s", name, fault.message)
            return
        log.info(
            "memory of %s loaded from the database (%d records changed, %.1f s)",
            name,
            changed,
            time.perf_counter() - started,
        )


def load_memory(parts: StorageParts, repository: str, batch_size: int = 500) -> int:
    """Make memory equal to the database for one repository (before reads move back to
    memory). Each batch is re-read under its records' locks, so a write racing the load
    is never overwritten with an older copy. Returns the number of records changed."""
    binding = parts.bindings[repository]
    memory = parts.memory_repository(repository)
    generation = parts.warmup.generation(repository)
    with translate_faults(), new_session(parts.engine) as session:
        keys = sorted(binding.sql(session).keys() | memory.keys())
    changed = 0
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        with parts.changing((repository, key) for key in batch):
            in_memory, in_database = verify.read_both(parts, repository, batch)
            for key in batch:
                if key not in in_database:
                    if key in in_memory:
                        memory.discard(key)
                        changed += 1
                elif in_memory.get(key) != in_database[key]:
                    memory.upsert(in_database[key])
                    changed += 1
    parts.warmup.mark_loaded(repository, generation)
    return changed


def reload_memory(
    parts: StorageParts, repositories: Iterable[str], replay: Replay, *, force: bool = False
) -> dict:
    """The operator's load-memory: `load_memory` for each repository, after replaying
    the journal; refused (unless `force`) where memory is the primary copy
    (`memory-only`, `dual` reading memory), which holds records the database may lack,
    or while the journal still holds writes: loading would delete them from memory."""
    names = list(repositories)
    if len(parts.journal):
        replay()  # the database lacks the journaled writes until then
    refused: dict[str, list[str]] = {}
    for name in names:
        if parts.modes.get(name).primary == MEMORY:
            refused.setdefault(name, []).append(MEMORY_IS_PRIMARY)
        if len(parts.journal):
            refused.setdefault(name, []).append(JOURNAL_PENDING)
    if refused and not force:
        raise GuardRefused(
            "loading memory would delete what only memory holds", {"refused": refused}
        )
    return {name: load_memory(parts, name) for name in names}
