"""`flask wf verify-keys`: every stored credential test-opened with the key ring, in every
backend the credentials' mode keeps them in; nothing is written. The report says, per
backend, what was scanned, what opened, what failed (ids and why, never data) and how
many credentials each key sealed, and for each key of the ring whether it may now be
removed (no credential anywhere uses it, and it is not the newest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..storage.adapter import Storage
from .encryption import SETTING, KeyRing, Undecryptable, key_id_of

MAX_FAILURES = 100  # listed per backend; all are counted
NOT_SEALED = "(not sealed)"  # counts stored values of no known format


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


def kept_in(storage: Storage) -> list[str]:
    """The backends the credentials' mode writes: their primary, then their secondary."""
    mode = storage.mode("credentials")
    return [backend for backend in (mode.primary, mode.secondary) if backend is not None]


def check_backend(storage: Storage, ring: KeyRing, backend: str) -> BackendKeys:
    """Every credential `backend` holds, test-opened with `ring`."""
    report = BackendKeys()
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
    return report


def verify_keys(storage: Storage, ring: KeyRing) -> dict:
    backends = {backend: check_backend(storage, ring, backend) for backend in kept_in(storage)}
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


def keys_missing_from_ring(storage: Storage, ring: KeyRing) -> list[str]:
    """Why `ring` cannot open every stored credential: each key id it lacks, and in which
    backend how many credentials that key sealed (start-up refuses such a ring). Counts
    key ids only: nothing is opened."""
    missing = []
    for backend in kept_in(storage):
        with storage.reading("credentials", backend) as repository:
            counts = Counter(key_id_of(c.sealed_data) or NOT_SEALED for c in repository.iter_all())
        missing += [
            f"{count} credential(s) in {backend} are sealed with key {key_id}, which "
            f"{SETTING} does not hold"
            for key_id, count in sorted(counts.items())
            if key_id not in ring
        ]
    return missing
