"""The current mode of every repository, persisted in the control-plane tables.

A fresh database takes its modes from the configured default (`WF_STORAGE_MODE`); after
that the stored modes win on restart, and the log says so when they differ from the
environment. A repository a release adds (no stored mode yet) starts where its parents are
(see `placement.starting_mode`): it is empty, and in the default mode memory's parent check
would refuse its writes while its parents live in the database. Every change is stored
with who made it, when and why, and with its audit entry waiting in the outbox (see
`audit_outbox`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from ..backends.sql import new_session, translate_faults
from ..domain.audit import AuditEntry
from ..domain.codec import as_utc, utcnow
from ..models import ModeChangeModel, StorageModeModel
from ..repositories.base import RepositorySpec
from . import audit_outbox
from .modes import RepositoryMode
from .placement import starting_mode

log = logging.getLogger(__name__)
# The audit entry of a mode change, from the new modes and whether the guards were forced.
ModeChangeAudit = Callable[[dict[str, RepositoryMode], bool], AuditEntry]


class ModeRegistry:
    def __init__(
        self, engine: Engine, repositories: Iterable[RepositorySpec], default: RepositoryMode
    ):
        self._engine = engine
        self._specs = list(repositories)
        self._names = [spec.name for spec in self._specs]
        self._default = default
        self._lock = threading.Lock()
        self._modes: dict[str, RepositoryMode] = {name: default for name in self._names}

    def load(self) -> None:
        with translate_faults(), new_session(self._engine) as session:
            rows = {row.repository: row for row in session.scalars(sa.select(StorageModeModel))}
        loaded = {name: _from_row(rows[name]) for name in self._names if name in rows}
        missing = self._starting_modes(loaded)
        for name, mode in loaded.items():
            if mode.label() != self._default.label():
                log.warning(
                    "repository %s runs %s as stored in the database, not %s from the environment",
                    name,
                    mode.label(),
                    self._default.label(),
                )
        with self._lock:
            self._modes.update(loaded)
        if not missing:
            return
        reason = "initial mode from configuration"
        if loaded:
            reason = "a new repository starts where its parents are"
            log.info(
                "repositories new to this database start beside their parents: %s", _labels(missing)
            )
        try:
            self.apply(missing, actor="system", reason=reason, new=True)
        except sa_exc.IntegrityError:  # another process starting at once stored them first
            self.load()

    def _starting_modes(self, loaded: dict[str, RepositoryMode]) -> dict[str, RepositoryMode]:
        """Modes for the repositories without a stored one, parents first."""
        known, missing = dict(loaded), {}
        for spec in self._specs:
            if spec.name not in known:
                start = starting_mode(spec, self._specs, known, self._default)
                known[spec.name] = missing[spec.name] = start.with_settings(changed_at=utcnow())
        return missing

    def stored_changes(self) -> dict[str, RepositoryMode]:
        """Modes stored (by another process) that differ from the ones in use here."""
        with translate_faults(), new_session(self._engine) as session:
            rows = list(session.scalars(sa.select(StorageModeModel)))
        current = self.snapshot()
        stored = {row.repository: _from_row(row) for row in rows if row.repository in current}
        return {name: mode for name, mode in stored.items() if mode != current[name]}

    def adopt(self, changes: dict[str, RepositoryMode]) -> None:
        with self._lock:
            self._modes.update(changes)

    def snapshot(self) -> dict[str, RepositoryMode]:
        with self._lock:
            return dict(self._modes)

    def get(self, repository: str) -> RepositoryMode:
        with self._lock:
            return self._modes[repository]

    def apply(
        self,
        changes: dict[str, RepositoryMode],
        *,
        actor: str,
        reason: str,
        forced: bool = False,
        new: bool = False,
        audit: ModeChangeAudit | None = None,
    ) -> None:
        """Store the new modes, their history and the audit entry `audit` makes of them in
        one transaction, then use them. `new`: the repositories have no stored mode yet (an
        `IntegrityError` if one appeared)."""
        now = utcnow()
        current = self.snapshot()
        with translate_faults(), new_session(self._engine) as session:
            for name, mode in changes.items():
                if new:
                    session.add(_to_row(name, mode))
                else:
                    session.merge(_to_row(name, mode))
                before = current[name]
                session.add(
                    ModeChangeModel(
                        repository=name,
                        from_mode=before.mode.value,
                        from_read_from=before.read_from,
                        to_mode=mode.mode.value,
                        to_read_from=mode.read_from,
                        actor=actor,
                        reason=reason,
                        forced=forced,
                        changed_at=now,
                    )
                )
            if audit is not None:
                audit_outbox.put(session, audit(changes, forced))
            session.commit()
        with self._lock:
            self._modes.update(changes)

    def history(self, limit: int = 100) -> list[dict]:
        with translate_faults(), new_session(self._engine) as session:
            rows = session.scalars(
                sa.select(ModeChangeModel).order_by(ModeChangeModel.id.desc()).limit(limit)
            )
            return [
                {
                    "repository": row.repository,
                    "from": {"mode": row.from_mode, "read_from": row.from_read_from},
                    "to": {"mode": row.to_mode, "read_from": row.to_read_from},
                    "actor": row.actor,
                    "reason": row.reason,
                    "forced": row.forced,
                    "at": as_utc(row.changed_at).isoformat(),
                }
                for row in rows
            ]


def _labels(modes: dict[str, RepositoryMode]) -> str:
    return ", ".join(f"{name}: {mode.label()}" for name, mode in sorted(modes.items()))


def _from_row(row: StorageModeModel) -> RepositoryMode:
    return RepositoryMode.of(
        row.mode,
        row.read_from,
        shadow_rate=row.shadow_rate,
        fallback=row.fallback,
        changed_at=as_utc(row.changed_at),
    )


def _to_row(name: str, mode: RepositoryMode) -> StorageModeModel:
    return StorageModeModel(
        repository=name,
        mode=mode.mode.value,
        read_from=mode.read_from,
        shadow_rate=mode.shadow_rate,
        fallback=mode.fallback,
        changed_at=mode.changed_at,
    )
