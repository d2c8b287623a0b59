"""`flask wf rotate-key`: every stored credential sealed again with the ring's newest key,
through the adapter (each credential its own unit of work, so dual ordering and the
journal apply as for any write), so an old key can then be retired.

Each credential is re-read in its unit of work and written only as the successor of the
version read there: an edit committed meanwhile is never overwritten (it is counted as
changed meanwhile and left for the next run). A credential already sealed with the
newest key is skipped, so a run killed half-way is resumed by running it again, and
ends as an uninterrupted run would."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..domain.codec import utcnow
from ..errors import Conflict
from . import audit
from .context import Actor
from .credentials import KIND, Credentials
from .encryption import Undecryptable, key_id_of
from .key_check import MAX_FAILURES, verify_keys

DEFAULT_BATCH = 200


@dataclass
class Rotation:
    scanned: int = 0
    resealed: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def fail(self, credential_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"id": credential_id, "reason": reason})


def rotate_keys(
    credentials: Credentials,
    actor: Actor,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> dict:
    """The report: the pass (`scanned`, `resealed`, `current`, `changed_meanwhile`,
    `failed` with ids and reasons) and, per backend, credentials per key id before and
    after, and per key whether it may now be removed. `dry_run` writes nothing: `resealed`
    then counts what would be."""
    storage, ring = credentials.storage, credentials.key_ring()
    before = verify_keys(storage, ring)
    rotation = Rotation()
    for batch in _batches(credentials, batch_size):
        for credential_id, sealed in batch:
            rotation.scanned += 1
            if key_id_of(sealed) == ring.newest:
                rotation.current += 1
            elif dry_run:
                _try_open(credentials, credential_id, rotation)
            else:
                _reseal(credentials, credential_id, rotation)
    after = before if dry_run else verify_keys(storage, ring)
    report = {
        "dry_run": dry_run,
        "newest_key": ring.newest,
        **dataclasses.asdict(rotation),
        "backends": {
            backend: {"before": found["by_key"], "after": after["backends"][backend]["by_key"]}
            for backend, found in before["backends"].items()
        },
        "keys": after["keys"],
    }
    if not dry_run:
        summary = {name: report[name] for name in ("resealed", "current", "failed")}
        storage.atomic(
            lambda uow: audit.record(uow, actor, "credential.rotate", KIND, None, summary)
        )
    return report


def _batches(credentials: Credentials, size: int):
    """(id, sealed text) of every credential, in key order, from the backend reads use
    (memory while the database may be behind it)."""
    storage = credentials.storage
    with storage.reading("credentials") as repository:
        found = [(c.id, c.sealed_data) for c in repository.iter_all(batch_size=size)]
    for start in range(0, len(found), size):
        yield found[start : start + size]


def _try_open(credentials: Credentials, credential_id: str, rotation: Rotation) -> None:
    credential = credentials.storage.credentials.get(credential_id)
    if credential is None:
        return
    try:
        credentials.key_ring().open(credential.sealed_data, credential.sealing_context())
        rotation.resealed += 1
    except Undecryptable as refused:
        rotation.fail(credential_id, refused.message)


def _reseal(credentials: Credentials, credential_id: str, rotation: Rotation) -> None:
    ring = credentials.key_ring()

    def reseal(uow) -> str:
        current = uow.credentials.get(credential_id)
        if current is None:
            return "gone"
        if key_id_of(current.sealed_data) == ring.newest:
            return "current"
        plaintext = ring.open(current.sealed_data, current.sealing_context())
        resealed = dataclasses.replace(current, version=current.version + 1, updated_at=utcnow())
        resealed.sealed_data = ring.seal(plaintext, resealed.sealing_context())
        credentials.counts.sealed(ring.newest)
        uow.credentials.update(resealed)
        return "resealed"

    try:
        outcome = credentials.storage.atomic(reseal)
    except Undecryptable as refused:
        rotation.fail(credential_id, refused.message)
        return
    except Conflict:
        rotation.changed_meanwhile += 1
        return
    if outcome == "resealed":
        rotation.resealed += 1
    elif outcome == "current":
        rotation.current += 1
