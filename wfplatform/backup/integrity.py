"""Find (and repair what is safe of) what the constraints should have prevented.

Per repository and per backend in use (memory in `memory-only` and `dual`, the database in
`dual` and `database-only`):

- orphans: records whose parent (owning user, workflow) is missing in that backend;
- broken references: references without a foreign key (a version's `created_by`) that
  point nowhere, and workflow graphs whose edges name nodes that do not exist;
- duplicates: records sharing a unique value (emails compared case-insensitively, key
  hashes, version numbers of one workflow);
- invalid: records failing their own `validate()`.

Each rule comes from the repository's spec (`parents`, `soft_references`,
`internal_references`, `unique`): a new repository is checked as it declares itself.

The database's constraints rule most of these out there; memory enforces the same rules on
domain writes, so problems come from replication primitives, old data or imports.

`fix` removes orphans only, and only when it is safe: the record owns nothing (a leaf such
as a workflow version or an API key; users and workflows are never deleted) and its parent
is gone from every backend its repository uses (a parent present in the other backend
means the backends diverged: the backfill or load-memory is the cure, not a delete). The
orphan is removed from every backend in use, under its record lock, so dual backends stay
equal. Everything else is reported for a person to decide.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..domain.validation import validate_record
from ..errors import Conflict, ValidationFailed
from ..repositories.base import Parent
from ..services.audit import AuditLog
from ..services.context import SYSTEM, Actor
from ..storage.modes import DATABASE, MEMORY, Mode, RepositoryMode
from .records import unique_values

if TYPE_CHECKING:
    from ..storage.adapter import Storage

ORPHAN, BROKEN, DUPLICATE, INVALID = "orphans", "broken_references", "duplicates", "invalid"
KINDS = (ORPHAN, BROKEN, DUPLICATE, INVALID)
REPORT_CAP = 100
BATCH_SIZE = 500
log = logging.getLogger(__name__)


@dataclass
class Finding:
    kind: str
    repository: str
    backend: str
    key: str | list[str]
    detail: str
    removable: bool = False
    fixed: bool = False

    def to_dict(self) -> dict[str, Any]:
        found = {"id": self.key, "detail": self.detail}
        if self.kind == ORPHAN:
            found.update(removable=self.removable, fixed=self.fixed)
        return found


def check_integrity(
    storage: Storage,
    repositories: Iterable[str] | None = None,
    *,
    fix: bool = False,
    actor: Actor = SYSTEM,
) -> dict[str, Any]:
    """The report (see the module doc); `problems` counts what remains after `fix`."""
    if fix and storage.journal_length():
        raise Conflict(
            f"the sync journal holds {storage.journal_length()} writes: replay it first "
            "(flask wf sync, or POST /admin/migration/sync) so both backends are current"
        )
    wanted = set(repositories or storage.repository_names)
    modes = storage.current_modes()
    findings: list[Finding] = []
    checked: dict[tuple[str, str], int] = {}
    for name in storage.repository_names:  # parents first
        if name in wanted:
            for backend in backends_in_use(modes[name]):
                check = RepositoryCheck(storage, name, backend, modes)
                checked[(backend, name)] = check.run()
                findings += check.findings
    fixed = remove_orphans(storage, findings, modes, actor) if fix else 0
    return _report(findings, checked, fixed)


def backends_in_use(mode: RepositoryMode) -> list[str]:
    backends = [] if mode.mode is Mode.DATABASE_ONLY else [MEMORY]
    return backends + ([DATABASE] if mode.uses_database else [])


class RepositoryCheck:
    """Every record of one repository in one backend, streamed in batches."""

    def __init__(self, storage: Storage, name: str, backend: str, modes: dict) -> None:
        self._storage = storage
        self._name = name
        self._spec = storage.spec(name)
        self._backend = backend
        self._modes = modes
        self._holders: dict[tuple[str, Any], list[str]] = {}
        self._owns_records = any(
            parent.repository == name
            for other in storage.repository_names
            for parent in storage.spec(other).parents
        )
        self.findings: list[Finding] = []

    def run(self) -> int:
        count = 0
        with self._storage.reading(self._name, self._backend) as repository:
            for batch in _chunks(repository.iter_all(BATCH_SIZE), BATCH_SIZE):
                count += len(batch)
                self._check(batch)
        for (index, _value), keys in self._holders.items():
            if len(keys) > 1:
                self._found(DUPLICATE, keys, f"{len(keys)} records share one {index}")
        return count

    def _check(self, records: list[Any]) -> None:
        for record in records:
            self._check_record(record)
        for parent in self._spec.parents:
            for record, key in self._dangling(records, parent):
                self._orphan(record, parent, key)
        for parent in self._spec.soft_references:
            for record, key in self._dangling(records, parent):
                self._found(BROKEN, record.id, f"{parent.field}: no {parent.repository} {key}")

    def _check_record(self, record: Any) -> None:
        try:
            validate_record(record)
        except ValidationFailed as error:
            self._found(INVALID, record.id, f"{error.message}: {error.details}")
        broken = self._spec.internal_references
        if broken is not None and (detail := broken(record)):
            self._found(BROKEN, record.id, detail)
        for index, value in unique_values(self._spec, record):
            self._holders.setdefault((index, value), []).append(record.id)

    def _dangling(self, records: list[Any], parent: Parent) -> list[tuple[Any, str]]:
        """(record, key) where the record's reference names no record in this backend."""
        keys = {getattr(record, parent.field) for record in records} - {None}
        found = self._present(parent.repository, self._backend, keys)
        return [
            (record, getattr(record, parent.field))
            for record in records
            if getattr(record, parent.field) in keys - found
        ]

    def _orphan(self, record: Any, parent: Parent, key: str) -> None:
        elsewhere = [
            backend
            for backend in backends_in_use(self._modes[parent.repository])
            if backend != self._backend and self._present(parent.repository, backend, {key})
        ]
        detail = f"{parent.field}: no {parent.repository} {key}"
        if elsewhere:
            detail += f" here, but {elsewhere[0]} has it: the backends diverged (sync them)"
        removable = not self._owns_records and not elsewhere
        self._found(ORPHAN, record.id, detail, removable)

    def _present(self, repository: str, backend: str, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        with self._storage.reading(repository, backend) as parents:
            return set(parents.fetch_many(sorted(keys)))

    def _found(self, kind: str, key: Any, detail: str, removable: bool = False) -> None:
        finding = Finding(kind, self._name, self._backend, key, detail, removable)
        self.findings.append(finding)


def remove_orphans(storage: Storage, findings: list[Finding], modes: dict, actor: Actor) -> int:
    """Remove every removable orphan from each backend in use; returns how many findings
    that settled (one record orphaned in both backends is two findings)."""
    targets = sorted({(f.repository, f.key) for f in findings if f.kind == ORPHAN and f.removable})
    for name, key in targets:
        with storage.changing([(name, key)]):
            for backend in backends_in_use(modes[name]):
                _discard(storage, name, backend, key)
        log.warning("removed orphaned %s %s (its parent is gone)", name, key)
    removed = set(targets)
    for finding in findings:
        finding.fixed = finding.kind == ORPHAN and (finding.repository, finding.key) in removed
    if targets:
        changes = {"removed_orphans": [f"{name}/{key}" for name, key in targets[:REPORT_CAP]]}
        AuditLog(storage).record(actor, "storage.integrity_fix", "storage", None, changes)
    return sum(finding.fixed for finding in findings)


def _discard(storage: Storage, name: str, backend: str, key: str) -> None:
    if backend == MEMORY:
        storage.in_memory(name).discard(key)
        return
    with storage.on_database(write=True) as database:
        database.repository(name).discard(key)
        database.commit()


def _report(findings: list[Finding], checked: dict, fixed: int) -> dict[str, Any]:
    backends: dict[str, dict[str, Any]] = {}
    for (backend, name), count in checked.items():
        mine = [f for f in findings if (f.backend, f.repository) == (backend, name)]
        entry: dict[str, Any] = {"checked": count}
        entry["counts"] = {kind: sum(f.kind == kind for f in mine) for kind in KINDS}
        for kind in KINDS:
            entry[kind] = [f.to_dict() for f in mine if f.kind == kind][:REPORT_CAP]
        backends.setdefault(backend, {})[name] = entry
    return {
        "problems": sum(not finding.fixed for finding in findings),
        "found": len(findings),
        "fixed": fixed,
        "backends": backends,
    }


def _chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(records, size)):
        yield batch
