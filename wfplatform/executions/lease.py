"""A runner's lease on the execution it runs, renewed on a thread a third of the lease
apart; when it cannot be renewed (the row names another outcome, or the database did not
answer until the lease ran out), `lost` is set and the run stops at its next check."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from ..domain.codec import utcnow
from ..errors import StorageUnavailable
from .claims import Claims

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, claims: Claims, execution_id: str, runner: str, expires: datetime) -> None:
        self.claims = claims
        self.execution_id = execution_id
        self.runner = runner
        self.expires = expires
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._keep, name=f"wf-lease-{execution_id[:8]}", daemon=True
        )

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _keep(self) -> None:
        every = self.claims.lease.total_seconds() / 3
        while not self._stop.wait(every):
            try:
                renewed = self.claims.renew(self.execution_id, self.runner)
            except StorageUnavailable as fault:
                if utcnow() < self.expires:
                    log.warning("could not renew the lease of %s (%s)", self.execution_id, fault)
                    continue
                renewed = None
            if renewed is None:
                log.warning("execution %s: lease lost, the run stops", self.execution_id)
                self.lost.set()
                return
            self.expires = renewed.lease_expires_at or self.expires
