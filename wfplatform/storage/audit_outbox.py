"""Audit entries waiting for the audit log: a transactional outbox in the control-plane
tables.

A control-plane change (a mode switch, an admin made from the CLI) commits in the database,
while the audit log is a repository like any other, in whatever mode it runs (in process
memory, perhaps). No transaction spans both, so the change's audit entry is stored in the
change's own transaction (`put`), and written to the audit log afterwards
(`services.audit.AuditLog.deliver`): a process that stops in between leaves the entry here,
for the next delivery."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..backends.sql import new_session, translate_faults
from ..domain.audit import AuditEntry
from ..domain.codec import from_dict, to_dict
from ..domain.validation import validate_record
from ..models import AuditOutboxModel


def put(session: Session, entry: AuditEntry) -> None:
    """Store `entry` in the transaction of `session`, with the change it records; refused
    (`ValidationFailed`) as the audit log would refuse it: every delivery would fail on it."""
    validate_record(entry)
    session.add(AuditOutboxModel(id=entry.id, entry=to_dict(entry), created_at=entry.created_at))


class AuditOutbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def waiting(self) -> list[AuditEntry]:
        """The entries not yet known to be in the audit log, oldest first."""
        query = sa.select(AuditOutboxModel).order_by(AuditOutboxModel.created_at)
        with translate_faults(), new_session(self._engine) as session:
            return [from_dict(AuditEntry, row.entry) for row in session.scalars(query)]

    def forget(self, entry_id: str) -> None:
        """The entry is in the audit log."""
        query = sa.delete(AuditOutboxModel).where(AuditOutboxModel.id == entry_id)
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.execute(query)
            session.commit()
