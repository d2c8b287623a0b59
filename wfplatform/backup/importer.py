"""Restore an export document through the adapter's normal write path.

Two passes over the document, each streamed:

1. Validate everything and write nothing: every record decodes and passes its checks, its
   parents exist in the document (as valid records) or in the target, its unique values
   clash with no other record of the document or the target; each valid record is counted
   as an insert, an update or identical to the target's copy. The target is read where
   each repository reads from in its current mode.
2. Unless a problem was found (or `force` says to import the valid records only), restore
   the valid records parents first, in batches: each batch is one unit of work of
   `restore` calls, so every mode, dual replication and the sync journal work as for any
   write. A batch that fails as a whole (a write raced the import) is retried record by
   record, and the records that still fail are reported.

Restoring is idempotent: importing the same document again changes nothing, so an import
cut short by a fault is finished by importing again. Memory keeps, per repository, the
keys of parents and the unique values seen (never whole records).

Known limit: a target record holding a unique value the document gives to another record
is reported even when the document would change that target record too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..domain.codec import to_dict
from ..errors import Conflict, DomainError
from ..repositories.base import IDENTICAL, INSERTED, UPDATED, RepositorySpec
from ..services.audit import AuditLog
from ..services.context import SYSTEM, Actor
from .format import ExportHeader
from .reader import ExportReader, Source, open_export
from .records import InvalidRecord, decode_record, unique_values
from .security import guarded, kept_entry, restore_guarded, secured

if TYPE_CHECKING:
    from ..storage.adapter import Storage

BATCH_SIZE = 500
SAMPLES = 20
FAILED = "failed"
Batch = list[tuple[int, dict[str, Any]]]  # (position in its repository, record's JSON form)


class Progress(Protocol):
    """Where an import reports how far it got (a background job's `Job`)."""

    def begin(self, phase: str, totals: dict[str, int] | None = None) -> None: ...

    def advance(self, repository: str, done: int, total: int | None = None) -> None: ...


# (repository, decoded record) -> problems besides its own checks (field -> why), e.g. a
# credential sealed with a key the ring lacks (`services.credentials.import_problems`)
RecordChecks = Callable[[str, Any], dict[str, str]]


class _Quiet:
    def begin(self, phase: str, totals: dict[str, int] | None = None) -> None:
        pass

    def advance(self, repository: str, done: int, total: int | None = None) -> None:
        pass


class ImportRefused(Conflict):
    """Validation found problems and `force` was not given: nothing was written."""

    code = "import_refused"


@dataclass
class RepositoryReport:
    insert: int = 0
    identical: int = 0
    update: int = 0
    invalid: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((INSERTED, UPDATED, IDENTICAL, FAILED), 0)
    )
    failures: list[dict[str, Any]] = field(default_factory=list)
    # Records whose security state the import keeps (validation) or kept (restore).
    kept: list[dict[str, Any]] = field(default_factory=list)

    def keep(self, entry: dict[str, Any]) -> None:
        if len(self.kept) < SAMPLES:
            self.kept.append(entry)

    def reject(self, position: int, key: Any, problems: dict[str, Any]) -> None:
        self.invalid += 1
        if len(self.samples) < SAMPLES:
            self.samples.append({"position": position, "id": key, "problems": problems})

    def classify(self, current: Any | None, record: Any) -> None:
        if current is None:
            self.insert += 1
        elif to_dict(current) == to_dict(record):
            self.identical += 1
        else:
            self.update += 1

    @property
    def valid(self) -> int:
        return self.insert + self.identical + self.update

    def wrote(self, key: Any, outcome: str | DomainError | InvalidRecord) -> None:
        if isinstance(outcome, str):
            self.written[outcome] += 1
            return
        self.written[FAILED] += 1
        if len(self.failures) < SAMPLES:
            problem = outcome.message if isinstance(outcome, DomainError) else outcome.problems
            self.failures.append({"id": key, "problem": problem})

    def to_dict(self, written: bool) -> dict[str, Any]:
        counts = {name: getattr(self, name) for name in ("insert", "identical", "update")}
        result: dict[str, Any] = {**counts, "invalid": self.invalid, "samples": self.samples}
        result["security_kept"] = len(self.kept)
        if written:
            result.update(written=self.written, failures=self.failures)
        return result


@dataclass
class Plan:
    """What validation found: the header, counts per repository, the records to skip."""

    header: ExportHeader
    repositories: dict[str, RepositoryReport]
    rejected: set[tuple[str, int]]

    @property
    def problems(self) -> int:
        return sum(report.invalid for report in self.repositories.values())

    def report(self, *, dry_run: bool, force: bool, warnings: list[str]) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "forced": force,
            "header": self.header.to_dict(),
            "warnings": warnings,
            "problems": self.problems,
            "security_kept": {
                name: report.kept for name, report in self.repositories.items() if guarded(name)
            },
            "repositories": {
                name: report.to_dict(written=not dry_run and (force or not self.problems))
                for name, report in self.repositories.items()
            },
        }


def import_export(
    storage: Storage,
    source: Source,
    *,
    dry_run: bool = False,
    force: bool = False,
    schema_revision: str | None = None,
    actor: Actor = SYSTEM,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    checks: RecordChecks | None = None,
) -> dict[str, Any]:
    """Validate, then (unless `dry_run`) restore; see the module doc. `source` is a path or
    a seekable stream (read twice). `schema_revision` is this code's Alembic head: a
    document taken at another revision gets a warning (its records are checked anyway).
    Raises `ImportRefused` (details: the report) when records are invalid and not `force`,
    `ExportFormatError` when the document is not a readable export. `progress` hears of
    each batch, in the phases "validating" then "restoring". `checks` adds problems of
    its own to records (they are refused like invalid ones)."""
    progress = progress or _Quiet()
    progress.begin("validating")
    plan = Validator(storage, batch_size, checks).run(source, progress)
    warnings = _warnings(plan.header, schema_revision)
    report = plan.report(dry_run=dry_run, force=force, warnings=warnings)
    if plan.problems and not force:
        would = "would be" if dry_run else "was"
        raise ImportRefused(
            f"{plan.problems} records of the document are not valid, so nothing {would} "
            "imported: correct them, or force the import of the valid records only",
            report,
        )
    if dry_run:
        return report
    progress.begin("restoring", {name: r.valid for name, r in plan.repositories.items()})
    restore(storage, source, plan, batch_size, progress, actor)
    written = {name: report.written for name, report in plan.repositories.items()}
    changes = {"written": written, "forced": force, "invalid_skipped": plan.problems}
    changes["security_kept"] = {
        name: len(report.kept) for name, report in plan.repositories.items() if guarded(name)
    }
    AuditLog(storage).record(actor, "storage.import", "storage", None, changes)
    return plan.report(dry_run=False, force=force, warnings=warnings)


class Validator:
    """Pass 1: checks every record against the document and the target; writes nothing."""

    def __init__(
        self, storage: Storage, batch_size: int = BATCH_SIZE, checks: RecordChecks | None = None
    ) -> None:
        self._storage = storage
        self._batch_size = batch_size
        self._checks = checks or (lambda _name, _record: {})
        self.reports = {name: RepositoryReport() for name in storage.repository_names}
        self.rejected: set[tuple[str, int]] = set()
        parents = {
            parent.repository
            for name in storage.repository_names
            for parent in storage.spec(name).parents
        }
        self._document_keys: dict[str, set[str]] = {name: set() for name in parents}
        self._document_unique: dict[tuple[str, str], dict[Hashable, str]] = defaultdict(dict)
        self._target_unique: dict[str, dict[tuple[str, Hashable], str]] = {}

    def run(self, source: Source, progress: Progress | None = None) -> Plan:
        progress = progress or _Quiet()
        with open_export(_rewound(source)) as document:
            for name, batch in batches(document, self._batch_size):
                self._check(name, batch)
                report = self.reports[name]
                progress.advance(name, report.valid + report.invalid)
        return Plan(document.header, self.reports, self.rejected)

    def _check(self, name: str, batch: Batch) -> None:
        decoded = []
        for position, data in batch:
            try:
                decoded.append((position, decode_record(name, data)))
            except InvalidRecord as invalid:
                self._reject(name, position, data.get("id"), invalid.problems)
        with self._storage.reading(name) as target:
            current = target.fetch_many([record.id for _, record in decoded])
        missing = self._missing_parents(name, [record for _, record in decoded])
        for position, record in decoded:
            problems = self._reference_problems(name, record, missing)
            problems.update(self._unique_problems(name, record))
            problems.update(self._checks(name, record))
            if problems:
                self._reject(name, position, record.id, problems)
                continue
            self._accept(name, record)
            record, kept = secured(name, current.get(record.id), record)
            if kept:
                self.reports[name].keep(kept_entry(name, record, kept))
            self.reports[name].classify(current.get(record.id), record)

    def _spec(self, name: str) -> RepositorySpec:
        return self._storage.spec(name)

    def _reject(self, name: str, position: int, key: Any, problems: dict[str, Any]) -> None:
        self.rejected.add((name, position))
        self.reports[name].reject(position, key, problems)

    def _accept(self, name: str, record: Any) -> None:
        if name in self._document_keys:
            self._document_keys[name].add(record.id)
        for index, value in unique_values(self._spec(name), record):
            self._document_unique[(name, index)][value] = record.id

    def _missing_parents(self, name: str, records: list[Any]) -> set[tuple[str, str]]:
        """(parent repository, key) of parents neither valid in the document nor stored."""
        missing: set[tuple[str, str]] = set()
        for parent in self._spec(name).parents:
            keys = {getattr(record, parent.field) for record in records} - {None}
            keys -= self._document_keys[parent.repository]
            if not keys:
                continue
            with self._storage.reading(parent.repository) as target:
                found = target.fetch_many(sorted(keys))
            missing |= {(parent.repository, key) for key in keys - found.keys()}
        return missing

    def _reference_problems(self, name: str, record: Any, missing: set) -> dict[str, str]:
        return {
            parent.field: f"no {parent.repository} record {key} in the document or the target"
            for parent in self._spec(name).parents
            if (key := getattr(record, parent.field)) is not None
            and (parent.repository, key) in missing
        }

    def _unique_problems(self, name: str, record: Any) -> dict[str, str]:
        """Unique values held by another record of the document or of the target (the
        values themselves are not repeated: emails and key hashes are not for reports)."""
        problems = {}
        stored = self._target_holders(name)
        for index, value in unique_values(self._spec(name), record):
            in_document = self._document_unique[(name, index)].get(value)
            in_target = stored.get((index, value))
            if in_document not in (None, record.id):
                problems[index] = f"not unique: {name} record {in_document} of the document"
            elif in_target not in (None, record.id):
                problems[index] = f"not unique: {name} record {in_target} already has it"
        return problems

    def _target_holders(self, name: str) -> dict[tuple[str, Hashable], str]:
        """(index, value) -> key over the target's records (read once per import)."""
        if name not in self._target_unique:
            holders: dict[tuple[str, Hashable], str] = {}
            spec = self._spec(name)
            if spec.unique:
                with self._storage.reading(name) as target:
                    for record in target.iter_all():
                        for index, value in unique_values(spec, record):
                            holders[(index, value)] = record.id
            self._target_unique[name] = holders
        return self._target_unique[name]


def restore(
    storage: Storage,
    source: Source,
    plan: Plan,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    actor: Actor = SYSTEM,
) -> None:
    """Pass 2: write the records validation accepted, parents first, batch by batch."""
    progress = progress or _Quiet()
    for report in plan.repositories.values():
        report.kept.clear()  # what the restore keeps, against the target as it is then
    with open_export(_rewound(source)) as document:
        for name, batch in batches(document, batch_size):
            report = plan.repositories[name]
            records = []
            for position, data in batch:
                if (name, position) in plan.rejected:
                    continue
                try:
                    records.append(decode_record(name, data))
                except InvalidRecord as invalid:  # the file changed since it was validated
                    report.wrote(data.get("id"), invalid)
            for record, outcome, kept in _write_batch(storage, name, records, actor):
                report.wrote(record.id, outcome)
                if kept:
                    report.keep(kept_entry(name, record, kept))
            progress.advance(name, sum(report.written.values()), report.valid)


def _write_batch(
    storage: Storage, name: str, records: list[Any], actor: Actor
) -> list[tuple[Any, Any, list[str]]]:
    """(record, outcome, security fields kept) per record: one unit of work for the batch,
    or one per record to find the few that fail (a failed unit of work wrote nothing)."""
    if not records:
        return []
    try:
        return storage.atomic(lambda uow: [_write(uow, name, r, actor) for r in records])
    except DomainError as error:
        if len(records) == 1:
            return [(records[0], error, [])]
    return [
        outcome for record in records for outcome in _write_batch(storage, name, [record], actor)
    ]


def _write(uow, name: str, record: Any, actor: Actor) -> tuple[Any, str, list[str]]:
    if guarded(name):
        outcome, kept = restore_guarded(uow, name, record, actor)
        return record, outcome, kept
    return record, uow.repository(name).restore(record), []


def batches(document: ExportReader, size: int) -> Iterator[tuple[str, Batch]]:
    """Consecutive records of one repository, at most `size` at a time."""
    name: str | None = None
    batch: Batch = []
    position = 0
    for repository, data in document:
        if repository != name:
            if batch:
                yield name, batch  # type: ignore[misc]
            name, batch, position = repository, [], 0
        batch.append((position, data))
        position += 1
        if len(batch) >= size:
            yield name, batch
            batch = []
    if batch:
        yield name, batch  # type: ignore[misc]


def _rewound(source: Source) -> Source:
    if hasattr(source, "seek"):
        source.seek(0)
    return source


def _warnings(header: ExportHeader, schema_revision: str | None) -> list[str]:
    if schema_revision is None or header.schema_revision == schema_revision:
        return []
    return [
        f"the document was exported at schema revision {header.schema_revision}, this "
        f"database's code is at {schema_revision}: records that no longer fit are invalid"
    ]
