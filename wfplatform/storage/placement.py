"""Where each mode keeps a repository's records, and where its writes look for the records
a reference joins: a child's writes look for its parent, a parent's deletes look for the
children still referring to it. A combination of modes in which one side looks in a
backend the other side does not write to refuses writes it should accept (memory's
parent check, in memory-only, while the parents are database-only) or accepts deletes it
should refuse; `refusals` names each such pair, and a new repository starts in a mode
that has none (`starting_mode`).

Per mode: where it keeps records; where a child's write looks for its parent; where a
delete looks for children.

- memory-only: memory; memory; memory.
- dual reading memory: both; memory (the database copy brings a missing parent along);
  memory.
- dual reading the database: both; memory when it falls back (the database copy brings a
  missing parent along); the database, and memory when it falls back.
- database-only: the database; the database; the database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from ..repositories.base import RepositorySpec
from .modes import DATABASE, MEMORY, STEPS, Mode, RepositoryMode

WHERE = {MEMORY: "memory", DATABASE: "the database"}


def keeps(mode: RepositoryMode) -> set[str]:
    """The backends every write of this mode reaches."""
    if mode.mode is Mode.DUAL:
        return {MEMORY, DATABASE}
    return {mode.primary}


def parents_looked_up_in(mode: RepositoryMode) -> set[str]:
    """Where a child's write is refused when its parent is missing. In dual the database
    copy of a write first copies a parent only memory holds, so it never looks there."""
    if mode.mode is Mode.DUAL:
        return {MEMORY} if mode.primary == MEMORY or mode.can_fall_back else set()
    return {mode.primary}


def children_looked_up_in(mode: RepositoryMode) -> set[str]:
    """Where a parent's delete is refused while children refer to it."""
    found = {mode.primary}
    if mode.can_fall_back:
        found.add(MEMORY)
    return found


def refusals(
    specs: Iterable[RepositorySpec],
    modes: Mapping[str, RepositoryMode],
    switching: Collection[str],
) -> dict[str, list[str]]:
    """For each repository in `switching`: every reference pair with a side looking in a
    backend the other side does not write to, were the repositories in `modes`."""
    found: dict[str, list[str]] = {}
    pairs = {
        (spec.name, parent.repository)
        for spec in specs
        for parent in spec.parents
        if {spec.name, parent.repository} & set(switching)
    }
    for child, parent in sorted(pairs):
        if child not in modes or parent not in modes:
            continue  # not placed yet (a new repository's children)
        for reason in _pair_reasons(child, modes[child], parent, modes[parent]):
            for name in (child, parent):
                if name in switching:
                    found.setdefault(name, []).append(reason)
    return found


def starting_mode(
    spec: RepositorySpec,
    specs: Iterable[RepositorySpec],
    modes: Mapping[str, RepositoryMode],
    default: RepositoryMode,
) -> RepositoryMode:
    """The mode a repository without a stored mode starts in: its parents' (it is empty,
    so nothing needs copying), else `default`, else any step without a fallback (parents
    in different modes may leave no other); the first of these that no reference pair
    refuses, or the first parent's if all do."""
    specs = list(specs)
    candidates = [modes[p.repository] for p in spec.parents if p.repository in modes]
    candidates.append(default)
    candidates += [
        RepositoryMode.of(mode.value, read_from, fallback=False) for mode, read_from in STEPS
    ]
    for candidate in candidates:
        if not refusals(specs, {**modes, spec.name: candidate}, [spec.name]):
            return candidate
    return candidates[0]


def _pair_reasons(
    child: str, child_mode: RepositoryMode, parent: str, parent_mode: RepositoryMode
) -> list[str]:
    reasons = []
    for backend in sorted(parents_looked_up_in(child_mode) - keeps(parent_mode)):
        reasons.append(
            f"{child} ({child_mode.label()}) would look for its {parent} in "
            f"{_where(child_mode, backend)}, which {parent} ({parent_mode.label()}) does not "
            f"write to: {_remedy(child_mode, backend)}"
        )
    for backend in sorted(children_looked_up_in(parent_mode) - keeps(child_mode)):
        reasons.append(
            f"{parent} ({parent_mode.label()}) would look for the {child} referring to it in "
            f"{_where(parent_mode, backend)} before a delete, which {child} "
            f"({child_mode.label()}) does not write to: {_remedy(parent_mode, backend)}"
        )
    return reasons


def _where(mode: RepositoryMode, backend: str) -> str:
    if backend != mode.primary:
        return f"{WHERE[backend]} (when it falls back)"
    return WHERE[backend]


def _remedy(mode: RepositoryMode, backend: str) -> str:
    if backend != mode.primary:
        return "switch them together, or switch fallback off first"
    return "switch them together"
