"""Which processes use this database: each says it is alive every second or so.

`memory-only` and `dual` reading memory keep records in the process, so they are valid
with one process only; the admin view and the log warn when more are alive."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..backends.sql import new_session, translate_faults
from ..domain.codec import as_utc, utcnow
from ..models import StorageProcessModel

ALIVE_WITHIN = timedelta(seconds=10)
FORGET_AFTER = timedelta(hours=1)


class ProcessRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.id = str(uuid.uuid4())
        self.pid = os.getpid()
        self.hostname = socket.gethostname()
        self.started_at = utcnow()

    def beat(self, activity: dict[str, Any] | None = None) -> None:
        """Say this process is alive, publishing `activity` (see `storage.fleet`)."""
        now = utcnow()
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.merge(
                StorageProcessModel(
                    id=self.id,
                    hostname=self.hostname,
                    pid=self.pid,
                    started_at=self.started_at,
                    last_seen=now,
                    activity=activity,
                )
            )
            session.execute(
                sa.delete(StorageProcessModel).where(
                    StorageProcessModel.last_seen < now - FORGET_AFTER
                )
            )
            session.commit()

    def alive(self) -> list[dict]:
        since = utcnow() - ALIVE_WITHIN
        with translate_faults(), new_session(self._engine) as session:
            rows = session.scalars(
                sa.select(StorageProcessModel)
                .where(StorageProcessModel.last_seen >= since)
                .order_by(StorageProcessModel.started_at)
            )
            return [
                {
                    "id": row.id,
                    "hostname": row.hostname,
                    "pid": row.pid,
                    "started_at": as_utc(row.started_at).isoformat(),
                    "last_seen": as_utc(row.last_seen).isoformat(),
                    "this_process": row.id == self.id,
                    "journal": (row.activity or {}).get("journal"),  # as of its last beat
                }
                for row in rows
            ]

    def activity_of_others(self, within: timedelta) -> list[dict[str, Any]]:
        """What the other processes seen within `within` last published."""
        with translate_faults(), new_session(self._engine) as session:
            return list(
                session.scalars(
                    sa.select(StorageProcessModel.activity).where(
                        StorageProcessModel.id != self.id,
                        StorageProcessModel.last_seen >= utcnow() - within,
                        StorageProcessModel.activity.is_not(None),
                    )
                )
            )

    def leave(self) -> None:
        with translate_faults(), new_session(self._engine, write=True) as session:
            session.execute(sa.delete(StorageProcessModel).where(StorageProcessModel.id == self.id))
            session.commit()
