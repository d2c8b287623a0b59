"""The backfiller: dry-run, confirm (in batches, with a ledger), resume and rollback.

A live backfill takes the record locks of each batch and reads memory under them, the
same locks dual writes hold while they write both backends: a record written during a run
is never overwritten with an older copy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from ..domain.codec import comparable, from_dict, to_dict
from ..errors import Conflict, GuardRefused, ValidationFailed
from ..repositories.memory import Stamps
from ..storage.adapter import Storage
from ..storage.modes import DATABASE
from . import guards
from .classify import (
    ACTIONS,
    CONFLICT,
    INSERT,
    UPDATE,
    BatchFacts,
    Verdict,
    canonical,
    checksum,
    checksum_of,
    classify,
    invalid_reason,
)
from .runs import COMPLETED, FAILED, RESUMABLE, ROLLED_BACK, ROLLING_BACK, RUNNING, RunStore

ON_CONFLICT = ("skip", "overwrite", "fail")
SAMPLES = 20
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Options:
    repositories: tuple[str, ...] = ()
    batch_size: int = 500
    on_conflict: str = "skip"


@dataclass
class Report:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)

    def add(self, repository: str, verdicts: list[Verdict]) -> None:
        counts = self.counts.setdefault(repository, dict.fromkeys(ACTIONS, 0))
        self.written.setdefault(repository, 0)
        for verdict in verdicts:
            counts[verdict.action] += 1
            if verdict.reason and len(self.samples) < SAMPLES:
                self.samples.append(
                    {"repository": repository, "id": verdict.record.id, "action": verdict.action,
                     "reason": verdict.reason}
                )  # fmt: skip

    @property
    def needs_attention(self) -> bool:
        return any(c["conflict"] or c["invalid"] for c in self.counts.values())


@dataclass(frozen=True)
class _Read:
    """A batch as memory held it when read: its records by key, their stamps (see
    `MemoryRepository.fetch_many_stamped`), and what the batch needs of each record,
    computed once: its `canonical` text, why it is invalid (for the invalid ones), and
    its columns (for the valid ones, when `mapped`)."""

    records: dict[str, Any]
    stamps: Stamps
    texts: dict[str, str]
    invalid: dict[str, str]
    columns: dict[str, dict[str, Any]]
    mapped: bool  # whether `columns` were made

    def updated(self, again: _Read) -> _Read:
        """This read with `again`'s records (read anew) in place of its own, in key order."""
        stamps = {**self.stamps, **again.stamps}

        def merged(mine: dict, theirs: dict) -> dict:
            both = {key: value for key, value in mine.items() if key not in again.stamps}
            both.update(theirs)
            return {key: both[key] for key in stamps if key in both}

        return _Read(
            merged(self.records, again.records),
            stamps,
            merged(self.texts, again.texts),
            merged(self.invalid, again.invalid),
            merged(self.columns, again.columns),
            self.mapped,
        )


class RunAborted(Exception):
    """`--on-conflict fail` met an update or a conflict."""


class Backfiller:
    """`source` names where memory's records came from: "memory" for a serving process's
    live memory (the backfill then needs dual mode and takes record locks), or a file the
    records were loaded from for an offline run (no other writer to guard against)."""

    def __init__(self, storage: Storage, source: str = "memory") -> None:
        self.storage = storage
        self.source = source
        self.live = source == "memory"
        self.runs = RunStore(storage.control_plane_engine)

    # -- backfill -----------------------------------------------------------------------------
    def dry_run(self, options: Options, progress: Progress | None = None) -> dict:
        """The full report; writes nothing."""
        names = self.check(options, writing=False)
        report = Report()
        self._walk(names, options, report, run_id=None, progress=progress)
        return self._result(report, run=None, dry_run=True)

    def start(self, options: Options, actor: str, resume: str | None = None) -> str:
        """Check the guards and record the run (or reopen `resume`, an interrupted one);
        returns its id for `confirm`."""
        self.check_start(options, resume)
        return self.open_run(options, actor, resume)

    def check_start(self, options: Options, resume: str | None = None) -> None:
        """What `start` refuses, without writing anything."""
        self.check(options, writing=True)
        if resume is not None:
            run = self.runs.get(resume)
            if run["state"] not in RESUMABLE:
                raise Conflict(f"run {resume} is {run['state']}; only a stopped run resumes")

    def open_run(
        self, options: Options, actor: str, resume: str | None = None, run_id: str | None = None
    ) -> str:
        """Record a new run (with `run_id`, when given), or mark `resume` running again."""
        if resume is None:
            return self.runs.create(actor, self.source, asdict(options), run_id)
        self.runs.set_state(resume, RUNNING)
        return resume

    def confirm(
        self,
        options: Options,
        actor: str,
        progress: Progress | None = None,
        resume: str | None = None,
        run_id: str | None = None,
    ) -> dict:
        """Copy in batches, each committed with its ledger entries; `resume` continues an
        interrupted run (what it copied is now identical, so nothing is written twice)."""
        run_id = run_id or self.start(options, actor, resume)
        names = self.check(options, writing=True)
        report = Report()
        # a resumed run keeps counting what it wrote before (the rest is now identical)
        report.written.update(self.runs.get(run_id)["counts"].get("written", {}))
        try:
            self._walk(names, options, report, run_id, progress)
        except RunAborted as aborted:
            self.runs.set_state(run_id, FAILED, _counts(report), str(aborted), only_from=RUNNING)
            return self._result(report, self.runs.get(run_id), dry_run=False)
        except BaseException as error:
            error_name = type(error).__name__
            self.runs.set_state(run_id, FAILED, _counts(report), error_name, only_from=RUNNING)
            raise
        self.runs.set_state(run_id, COMPLETED, _counts(report), only_from=RUNNING)
        return self._result(report, self.runs.get(run_id), dry_run=False)

    def check(self, options: Options, writing: bool) -> list[str]:
        """The repositories to walk, or `GuardRefused`/`ValidationFailed` saying why not."""
        if options.on_conflict not in ON_CONFLICT:
            raise ValidationFailed(f"on_conflict must be one of {', '.join(ON_CONFLICT)}")
        if options.batch_size < 1:
            raise ValidationFailed("batch_size must be at least 1")
        known = self.storage.repository_names
        names = [n for n in known if not options.repositories or n in options.repositories]
        unknown = set(options.repositories) - set(known)
        if unknown:
            raise ValidationFailed(f"unknown repositories: {', '.join(sorted(unknown))}")
        reasons = [guards.schema_refusal(self.storage.control_plane_engine)]
        if writing and self.live:
            reasons += guards.mode_refusals(self.storage, names)
        reasons = [reason for reason in reasons if reason]
        if reasons:
            raise GuardRefused("the backfill cannot start", {"refused": reasons})
        return names

    def _walk(self, names, options, report, run_id, progress) -> None:
        """Each batch is read from memory (copied, checked, mapped to rows) while the batch
        before it is written: the reading is Python's work, the writing mostly the
        database's, so the two overlap. A batch is read without its record locks; under
        them, what was written since is read again (see `_Read`)."""
        known: defaultdict[str, set[str]] = defaultdict(set)  # keys the database has or gets
        claimed: dict[tuple, str] = {}  # unique values of this walk's records -> their key
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-read") as reader:
            for name in names:  # parents before children
                keys = sorted(self.storage.in_memory(name).keys())
                batches = [
                    keys[start : start + options.batch_size]
                    for start in range(0, len(keys), options.batch_size)
                ]
                mapped = run_id is not None or bool(self.storage.spec(name).unique)
                ahead = reader.submit(self._read, name, batches[0], mapped) if batches else None
                for number, batch in enumerate(batches):
                    read = ahead.result()
                    if number + 1 < len(batches):
                        ahead = reader.submit(self._read, name, batches[number + 1], mapped)
                    verdicts = self._batch(name, read, options, report, run_id, (known, claimed))
                    known[name].update(
                        v.record.id for v in verdicts if v.action not in ("conflict", "invalid")
                    )
                    if progress is not None:
                        done = number * options.batch_size + len(batch)
                        progress(name, done, len(keys))

    def _read(self, name: str, keys: list[str], mapped: bool) -> _Read:
        """`mapped`: with the valid records' columns (to write them, or to look at their
        unique values); else with none."""
        records, stamps = self.storage.in_memory(name).fetch_many_stamped(keys)
        texts = {key: canonical(comparable(record)) for key, record in records.items()}
        invalid = {
            key: reason
            for key, record in records.items()
            if (reason := invalid_reason(record, texts[key])) is not None
        }
        to_columns = self.storage.column_mapper(name)
        columns = {
            key: to_columns(records[key]) for key in records if mapped and key not in invalid
        }
        return _Read(records, stamps, texts, invalid, columns, mapped)

    def _batch(self, name, read: _Read, options, report, run_id, seen) -> list[Verdict]:
        storage = self.storage
        writing = run_id is not None
        guarded = writing and self.live
        locks = storage.changing((name, key) for key in read.stamps) if guarded else nullcontext()
        with locks, storage.on_database(write=writing) as database:
            written_since = storage.in_memory(name).changed_since(read.stamps)
            if written_since:
                read = read.updated(self._read(name, written_since, read.mapped))
            records = list(read.records.values())
            facts = self._facts(database, name, records, read, *seen)
            verdicts = [classify(record, facts) for record in records]
            report.add(name, verdicts)
            if writing:
                entries = self._write(database, name, verdicts, read, options.on_conflict)
                written = {**report.written, name: report.written.get(name, 0) + len(entries)}
                counts = {"repositories": report.counts, "written": written}
                self.runs.record_batch(database.session, run_id, entries, counts)
                database.commit()
                report.written = written  # counted once committed
        return verdicts

    def _facts(self, database, name: str, records: list, read: _Read, known, claimed) -> BatchFacts:
        records = [record for record in records if record.id not in read.invalid]
        sql = database.repository(name)
        keys = [record.id for record in records]
        missing: dict[str, str] = {}
        for parent in self.storage.spec(name).parents:
            wanted = {getattr(r, parent.field) for r in records} - {None}
            parent_sql = database.repository(parent.repository)
            present = parent_sql.existing_keys(list(wanted)) | known[parent.repository]
            for record in records:
                value = getattr(record, parent.field)
                if value is not None and value not in present:
                    missing[record.id] = f"its parent {parent.repository} {value}"
        holders = _claimed_by_others(sql, name, read.columns, claimed)
        holders.update(sql.unique_holders(records) if records else {})
        return BatchFacts(
            invalid=read.invalid,
            current=sql.fetch_many(keys) if keys else {},
            unique_holders=holders,
            missing_parents=missing,
        )

    def _write(
        self, database, name: str, verdicts: list[Verdict], read: _Read, on_conflict: str
    ) -> list[dict]:
        if on_conflict == "fail":
            for verdict in verdicts:
                if verdict.action in (UPDATE, CONFLICT):
                    raise RunAborted(
                        f"{name} {verdict.record.id}: {verdict.action} (--on-conflict fail)"
                    )
        written = [
            verdict
            for verdict in verdicts
            if verdict.action == INSERT or (verdict.action == UPDATE and on_conflict == "overwrite")
        ]
        database.repository(name).upsert_rows([read.columns[v.record.id] for v in written])
        return [
            {
                "repository": name,
                "record_id": verdict.record.id,
                "action": verdict.action,
                "checksum": checksum_of(read.texts[verdict.record.id]),
                "before": to_dict(verdict.current) if verdict.current is not None else None,
            }
            for verdict in written
        ]

    @staticmethod
    def _result(report: Report, run: dict | None, dry_run: bool) -> dict:
        return {
            "dry_run": dry_run,
            "run": run,
            "repositories": report.counts,
            "written": report.written,
            "samples": report.samples,
            "needs_attention": report.needs_attention,
        }

    # -- rollback -----------------------------------------------------------------------------
    def rollback(self, run_id: str, *, dry_run: bool = False, force: bool = False) -> dict:
        """Undo exactly that run, newest first: delete what it inserted, restore what it
        overwrote, where the row still has the checksum the run left (else a conflict,
        kept unless `force`). Rows an earlier rollback already undid are skipped, so a
        rollback that kept rows can be run again with `force`; the run is `rolled_back`
        only once nothing of it is left. One rollback of a run at a time."""
        run = self.runs.get(run_id)
        self.check_rollback(run)
        result = {"run_id": run_id, "dry_run": dry_run, "undone": defaultdict(int), "conflicts": []}
        if not dry_run:
            self.runs.begin_rollback(run_id)
        finished = False
        try:
            for entries in self.runs.ledger(run_id):
                self._undo(entries, result, dry_run, force)
                if not dry_run:
                    self.runs.touch(run_id)
            finished = True
        finally:
            if not dry_run:
                self.runs.end_rollback(run_id, complete=finished and not result["conflicts"])
        result["undone"] = dict(result["undone"])
        result["conflict_count"] = len(result["conflicts"])
        result["conflicts"] = result["conflicts"][:SAMPLES]
        return result

    def check_rollback(self, run: dict) -> None:
        """What refuses a rollback of `run` (a `get` of the run store)."""
        if run["state"] == ROLLED_BACK:
            raise Conflict(f"run {run['id']} is already rolled back")
        if run["state"] == ROLLING_BACK and not self.runs.stale_rollback(run):
            raise Conflict(f"run {run['id']} is being rolled back already: one at a time")
        if run["state"] == RUNNING:
            raise Conflict(
                f"run {run['id']} is running: wait for it to end (if its process died, "
                "resume it first), then roll it back"
            )
        names = run["options"].get("repositories") or list(self.storage.repository_names)
        reading_database = [n for n in names if self.storage.mode(n).primary == DATABASE]
        if reading_database:
            reasons = [
                f"{n} reads from the database: switch its reads to memory first"
                for n in reading_database
            ]
            raise GuardRefused("a rollback only removes database copies", {"refused": reasons})

    def _undo(self, entries, result: dict, dry_run: bool, force: bool) -> None:
        storage = self.storage
        records = [(e.repository, e.record_id) for e in entries]
        with storage.changing(records), storage.on_database(write=True) as database:
            session = database.session
            for entry in entries:
                sql = database.repository(entry.repository)
                current = sql.fetch(entry.record_id)
                now = checksum(comparable(current) if current is not None else None)
                if current is None and entry.action == INSERT:
                    self.runs.mark_undone(session, entry.id)  # deleted since: nothing to undo
                    result["undone"][entry.repository] += 1
                    continue
                if now != entry.checksum and not force:
                    result["conflicts"].append(
                        {"repository": entry.repository, "id": entry.record_id,
                         "reason": "changed since the run wrote it"}
                    )  # fmt: skip
                    continue
                if dry_run:
                    result["undone"][entry.repository] += 1
                    continue
                try:
                    with session.begin_nested():
                        if entry.action == INSERT:
                            sql.discard(entry.record_id)
                        else:
                            sql.upsert(from_dict(sql.spec.record_type, entry.before))
                        self.runs.mark_undone(session, entry.id)
                except Conflict as refused:
                    result["conflicts"].append(
                        {
                            "repository": entry.repository,
                            "id": entry.record_id,
                            "reason": refused.message,
                        }
                    )
                    continue
                result["undone"][entry.repository] += 1
            if not dry_run:
                session.commit()


def _claimed_by_others(sql, name: str, rows: dict[str, dict], claimed: dict) -> dict[str, str]:
    """Records whose unique values an earlier record of this walk has (an export file can
    hold two users with one email; live memory never does): key -> that record's key.
    `rows`: the valid records' columns, by key."""
    clashes = {}
    for key, values in rows.items():
        for columns in sql.unique_columns:
            unique = tuple(values[c] for c in columns)
            if None in unique:  # holds no value (see `UniqueKey`)
                continue
            holder = claimed.setdefault((name, columns, *unique), key)
            if holder != key:
                clashes[key] = holder
    return clashes


def _counts(report: Report) -> dict:
    return {"repositories": report.counts, "written": report.written}
