"""The cut-over's control plane as use cases, for the admin API and the CLI alike: what
runs where, a mode switch stored with its audit entry, and the operator's tools (readiness,
history, stats, sync, verify, loading memory, repairing text)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..domain.audit import AuditEntry
from ..storage.adapter import Storage
from ..storage.modes import RepositoryMode
from . import audit
from .audit import AuditLog
from .context import Actor
from .text_repair import repair_text

MODE_CHANGE = "storage.mode_change"


class BackfillRuns(Protocol):
    """The backfill's runs, newest first (`backfill.runs.RunStore`)."""

    def list(self, limit: int = 50) -> list[dict]: ...


class Cutover:
    def __init__(self, storage: Storage, audit_log: AuditLog, backfill_runs: BackfillRuns) -> None:
        self._storage = storage
        self._audit_log = audit_log
        self._backfill_runs = backfill_runs

    def overview(self) -> dict:
        """Every repository's mode, settings and stats, the journal, the database, the
        record cache, the processes sharing it, warnings and the last backfill run."""
        storage = self._storage
        processes = storage.process_registry
        warnings = [storage.process_warning(), storage.journal_warning()]
        return {
            "repositories": storage.describe(),
            "journal": storage.journal_length(),
            "journal_damage": storage.journal_damage(),
            "database": storage.database_health(),
            "record_cache": storage.record_cache(),
            "processes": processes.alive(),
            "this_process": {"id": processes.id, "pid": processes.pid},
            "warnings": [warning for warning in warnings if warning],
            "last_backfill": next(iter(self._backfill_runs.list(1)), None),
        }

    def switch(
        self,
        actor: Actor,
        mode: str,
        *,
        reason: str,
        via: str,
        read_from: str | None = None,
        repositories: Iterable[str] | None = None,
        shadow_rate: float | None = None,
        fallback: bool | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict:
        """Switch modes behind the guards (see `Storage.switch`). The audit entry is stored
        in the switch's own transaction, then written to the audit log: a switch is never
        without its entry, however the process stops in between (see `AuditLog.deliver`).
        `via`: "http" or "cli"."""

        def audited(modes: dict[str, RepositoryMode], forced: bool) -> AuditEntry:
            described = {
                name: repository_mode.describe() for name, repository_mode in modes.items()
            }
            changes = {"modes": described, "forced": forced, "via": via}
            return audit.entry(actor, MODE_CHANGE, "storage", None, changes)

        result = self._storage.switch(
            mode,
            reason=reason,
            actor=actor.label or "unknown",
            read_from=read_from,
            repositories=repositories,
            shadow_rate=shadow_rate,
            fallback=fallback,
            force=force,
            dry_run=dry_run,
            audit=audited,
        )
        if not dry_run:
            self._audit_log.deliver()
        return result

    def readiness(self) -> dict[str, dict]:
        """Per repository: whether each next step is safe now, and every reason it is not."""
        return {name: self._storage.readiness(name) for name in self._storage.repository_names}

    def history(self, limit: int = 100) -> list[dict]:
        return self._storage.mode_history(limit)

    def reset_stats(self, repositories: Iterable[str] | None = None) -> None:
        self._storage.reset_stats(repositories or self._storage.repository_names)

    def sync(self) -> dict:
        """Replay the sync journal now."""
        return self._storage.replay_journal()

    def verify(self, repositories: Iterable[str] | None = None) -> dict:
        return self._storage.verify(repositories or None)

    def load_memory(self, repositories: Iterable[str] | None = None, *, force: bool) -> dict:
        """Make memory equal to the database (see `Storage.reload_memory`)."""
        names = repositories or self._storage.repository_names
        return self._storage.reload_memory(names, force=force)

    def repair_text(
        self, actor: Actor, repositories: list[str] | None = None, *, dry_run: bool
    ) -> dict:
        """See `text_repair`: each repaired record is audited with its repair."""
        return repair_text(self._storage, actor, repositories, dry_run)
