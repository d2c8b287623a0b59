"""Runs and their ledger, in the control-plane tables (always the database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..backends.recordset import insert_rows
from ..backends.sql import new_session, translate_faults
from ..domain.codec import as_utc, utcnow
from ..domain.ids import is_uuid, new_id
from ..errors import Conflict, NotFound
from ..models import BackfillRunModel, LedgerEntryModel

RUNNING, COMPLETED, FAILED, INTERRUPTED, ROLLING_BACK, ROLLED_BACK = (
    "running",
    "completed",
    "failed",
    "interrupted",
    "rolling_back",
    "rolled_back",
)
RESUMABLE = (RUNNING, FAILED, INTERRUPTED)
ROLLBACKABLE = (COMPLETED, FAILED, INTERRUPTED)
STALE_ROLLBACK = timedelta(minutes=1)  # a rollback touches its run after every batch


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, actor: str, source: str, options: dict[str, Any], run_id: str | None = None
    ) -> str:
        run_id = run_id or new_id()
        now = utcnow()
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.add(
                BackfillRunModel(
                    id=run_id,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                    state=RUNNING,
                    source=source,
                    options=options,
                    counts={},
                )
            )
            session.commit()
        return run_id

    def get(self, run_id: str) -> dict[str, Any]:
        if not is_uuid(run_id):
            raise NotFound(f"no migration run {run_id}")
        with translate_faults(), new_session(self._engine) as session:
            row = session.get(BackfillRunModel, run_id)
            if row is None:
                raise NotFound(f"no migration run {run_id}")
            return _describe(row)

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with translate_faults(), new_session(self._engine) as session:
            rows = session.scalars(
                sa.select(BackfillRunModel)
                .order_by(BackfillRunModel.created_at.desc())
                .limit(limit)
            )
            return [_describe(row) for row in rows]

    def set_state(
        self,
        run_id: str,
        state: str,
        counts=None,
        error: str | None = None,
        *,
        only_from: str | None = None,
    ) -> bool:
        """Set the run's state (with `only_from`: only if it is in that state now, as a run
        reported interrupted or taken by a rollback must not be overwritten by its old
        writer); False when it was not."""
        with translate_faults(), new_session(self._engine, write=True) as session:
            row = session.get(BackfillRunModel, run_id, with_for_update=True)
            if only_from is not None and row.state != only_from:
                return False
            row.state = state
            row.updated_at = utcnow()
            row.error = error
            if counts is not None:
                row.counts = counts
            if state != RUNNING:
                row.finished_at = row.updated_at
            session.commit()
        return True

    def begin_rollback(self, run_id: str) -> None:
        """Mark the run `rolling_back` (one rollback at a time), remembering its state to
        return to if the rollback leaves rows (`end_rollback`). A run left `rolling_back`
        by a process that died (untouched for a minute) may be rolled back again."""
        with translate_faults(), new_session(self._engine, write=True) as session:
            row = session.get(BackfillRunModel, run_id, with_for_update=True)
            stale = row.state == ROLLING_BACK and as_utc(row.updated_at) < utcnow() - STALE_ROLLBACK
            if row.state not in ROLLBACKABLE and not stale:
                raise Conflict(f"run {run_id} is {row.state}: one rollback at a time")
            if not stale:
                row.state_before_rollback = row.state
            row.state, row.updated_at = ROLLING_BACK, utcnow()
            session.commit()

    @staticmethod
    def stale_rollback(run: dict[str, Any]) -> bool:
        """A described run left `rolling_back` by a process that died."""
        updated = datetime.fromisoformat(run["updated_at"])
        return run["state"] == ROLLING_BACK and updated < utcnow() - STALE_ROLLBACK

    def end_rollback(self, run_id: str, *, complete: bool) -> None:
        """`rolled_back` when nothing of the run is left, else back to its earlier state."""
        with translate_faults(), new_session(self._engine, write=True) as session:
            row = session.get(BackfillRunModel, run_id, with_for_update=True)
            if row.state != ROLLING_BACK:
                return
            row.state = ROLLED_BACK if complete else row.state_before_rollback
            row.state_before_rollback = None
            row.updated_at = utcnow()
            session.commit()

    def mark_undone(self, session: Session, entry_id: int) -> None:
        """In the transaction that undoes the entry: a later rollback skips it."""
        session.execute(
            sa.update(LedgerEntryModel)
            .where(LedgerEntryModel.id == entry_id)
            .values(undone_at=utcnow())
        )

    def interrupt(self, run_id: str) -> None:
        """A run whose process died mid-way (no-op for any other run or state)."""
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.execute(
                sa.update(BackfillRunModel)
                .where(BackfillRunModel.id == run_id, BackfillRunModel.state == RUNNING)
                .values(state=INTERRUPTED, updated_at=utcnow())
            )
            session.commit()

    def touch(self, run_id: str) -> None:
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.execute(
                sa.update(BackfillRunModel)
                .where(BackfillRunModel.id == run_id)
                .values(updated_at=utcnow())
            )
            session.commit()

    def record_batch(self, session: Session, run_id: str, entries: list[dict], counts) -> None:
        """Add ledger entries and the run's counts to the caller's transaction (the one that
        writes the batch's rows, so the ledger never disagrees with the data), as long as
        the run is still `running` (the row lock taken here holds it so until commit)."""
        now = utcnow()
        still_running = session.execute(
            sa.update(BackfillRunModel)
            .where(BackfillRunModel.id == run_id, BackfillRunModel.state == RUNNING)
            .values(counts=counts, updated_at=now)
        )
        if still_running.rowcount != 1:  # reported interrupted, or taken by a rollback
            raise Conflict(f"run {run_id} is no longer running here: this batch is not written")
        rows = [{**entry, "run_id": run_id, "created_at": now} for entry in entries]
        insert_rows(session.connection(), LedgerEntryModel.__table__, rows)

    def ledger(self, run_id: str, batch_size: int = 500) -> Iterator[list[LedgerEntryModel]]:
        """The run's ledger entries not undone yet, newest first, in batches."""
        last = None
        while True:
            with translate_faults(), new_session(self._engine) as session:
                query = sa.select(LedgerEntryModel).where(
                    LedgerEntryModel.run_id == run_id, LedgerEntryModel.undone_at.is_(None)
                )
                if last is not None:
                    query = query.where(LedgerEntryModel.id < last)
                rows = list(
                    session.scalars(query.order_by(LedgerEntryModel.id.desc()).limit(batch_size))
                )
            if not rows:
                return
            last = rows[-1].id
            yield rows


def _describe(row: BackfillRunModel) -> dict[str, Any]:
    def stamp(value):
        return as_utc(value).isoformat() if value is not None else None

    return {
        "id": row.id,
        "created_by": row.created_by,
        "created_at": stamp(row.created_at),
        "updated_at": stamp(row.updated_at),
        "finished_at": stamp(row.finished_at),
        "state": row.state,
        "source": row.source,
        "options": row.options,
        "counts": row.counts,
        "error": row.error,
    }
