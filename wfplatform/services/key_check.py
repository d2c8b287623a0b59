"""`flask wf verify-keys`: every stored credential test-opened with the key ring, in every
backend the credentials' mode keeps them in; nothing is written. The report says, per
backend, what was scanned, what opened, what failed (ids and why, never data) and how
many credentials each key sealed, and for each key of the ring whether it may now be
removed (no credential anywhere uses it, and it is not the newest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..storage.adapter import Storage
from .credentials import NOT_SEALED
from .encryption import KeyRing, Undecryptable, key_id_of

MAX_FAILURES = 100  # listed per backend; all are counted


@dataclass
class BackendKeys:
    scanned: int = 0
    opened: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    by_key: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "scanned": self.scanned,
            "opened": self.opened,
            "failed": self.failed,
            "failures": self.failures,
            "by_key": dict(sorted(self.by_key.items())),
        }


def verify_keys(storage: Storage, ring: KeyRing) -> dict:
    mode = storage.mode("credentials")
    backends: dict[str, BackendKeys] = {}
    for backend in (mode.primary, mode.secondary):
        if backend is None:
            continue
        report = backends[backend] = BackendKeys()
        with storage.reading("credentials", backend) as repository:
            for credential in repository.iter_all():
                report.scanned += 1
                report.by_key[key_id_of(credential.sealed_data) or NOT_SEALED] += 1
                try:
                    ring.open(credential.sealed_data, credential.sealing_context())
                    report.opened += 1
                except Undecryptable as refused:
                    report.failed += 1
                    if len(report.failures) < MAX_FAILURES:
                        report.failures.append({"id": credential.id, "reason": refused.message})
    used: Counter[str] = Counter()  # the most of any backend: in dual both hold the same ones
    for report in backends.values():
        used |= report.by_key
    return {
        "backends": {name: report.as_dict() for name, report in backends.items()},
        "keys": {
            key_id: {
                "newest": key_id == ring.newest,
                "credentials": used[key_id],
                "removable": key_id != ring.newest and used[key_id] == 0,
            }
            for key_id in ring.ids
        },
        "failed": sum(report.failed for report in backends.values()),
    }
