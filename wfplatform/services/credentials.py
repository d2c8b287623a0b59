"""Credentials: their data sealed before any backend sees it (`encryption`), answered
without it, revealed to its owner only (audited: who, when, from where), and opened for
the runs of its owner's workflows.

Ownership as for workflows (`ownership`): another user is told a credential does not
exist; an admin sees its metadata but may neither change it nor reveal its data."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any, Protocol

from ..domain.codec import as_utc, utcnow
from ..domain.credentials import Credential
from ..domain.ids import is_uuid
from ..errors import Conflict, Forbidden, NotFound
from ..repositories.base import Page
from ..repositories.credentials import CredentialQuery
from ..repositories.workflows import WorkflowQuery
from ..storage.adapter import Storage
from ..storage.modes import DATABASE, RepositoryMode
from . import audit
from .api_keys import TOUCH_EVERY
from .context import Actor
from .encryption import SETTING as KEY_RING_SETTING
from .encryption import KeyRing, Undecryptable, key_id_of
from .key_check import check_backend
from .ownership import OWNER_ME, changeable, owner_scope, readable

KIND = "credential"
MAX_DATA_BYTES = 65_536  # a credential's data as compact JSON
EDITABLE = ("name", "type", "data", "expires_at", "is_active")
SHOWN_IDS = 20  # ids a refusal names
TOUCH_ATTEMPTS = 3  # `last_used_at` is written again when an edit raced it


class SealCounts(Protocol):
    """Who counts seals per key id and failures to open (the metrics)."""

    def sealed(self, key_id: str) -> None: ...

    def not_opened(self) -> None: ...


class _Uncounted:
    def sealed(self, key_id: str) -> None:
        pass

    def not_opened(self) -> None:
        pass


class Credentials:
    def __init__(
        self, storage: Storage, ring: KeyRing | None, counts: SealCounts | None = None
    ) -> None:
        """`ring` None: no key ring is configured, and a serving process refuses to start
        (see `bootstrap`); a command that never touches credentials runs without one."""
        self.storage = storage
        self.ring = ring
        self.counts = counts or _Uncounted()

    # -- reads --------------------------------------------------------------------------------
    def list(self, actor: Actor, query: CredentialQuery, owner: str = OWNER_ME) -> Page:
        scoped = dataclasses.replace(query, user_id=owner_scope(actor, owner, KIND))
        return self.storage.credentials.list(scoped)

    def get(self, actor: Actor, credential_id: str) -> Credential:
        return readable(self._fetch(credential_id), actor, KIND)

    def reveal(self, actor: Actor, credential_id: str) -> tuple[Credential, dict[str, Any]]:
        """The credential and its data, for its owner; the reveal is audited."""
        credential = self.get(actor, credential_id)
        if credential.user_id != actor.user_id:
            raise Forbidden("admins may see other users' credentials but not their data")
        data = self._open(credential)

        def record(uow) -> None:
            audit.record(uow, actor, "credential.reveal", KIND, credential.id)

        self.storage.atomic(record)
        return credential, data

    def for_execution(self, credential_id: str, user_id: str) -> dict[str, Any]:
        """The data a run of `user_id`'s workflow uses; an inactive or expired credential
        is refused. Records when it was last used."""
        credential = self._fetch(credential_id)
        if credential is None or credential.user_id != user_id:
            raise NotFound(f"no such {KIND}")
        if not credential.is_active:
            raise Conflict(f"the credential {credential.name!r} is inactive")
        if credential.expires_at is not None and credential.expires_at <= utcnow():
            raise Conflict(
                f"the credential {credential.name!r} expired at {credential.expires_at.isoformat()}"
            )
        data = self._open(credential)
        self._touch(credential_id)
        return data

    def readiness(self, _parts: Any, current: RepositoryMode, target: RepositoryMode) -> list[str]:
        """Reads moving to the database (or staying there as memory stops being written)
        while a credential there does not open with the ring: refused, with the count and
        the first ids (see `Storage.add_readiness_check`)."""
        if target.primary != DATABASE or (current.primary == DATABASE and target.secondary):
            return []
        found = check_backend(self.storage, self.key_ring(), DATABASE)
        if not found.failed:
            return []
        ids = [failure["id"] for failure in found.failures[:SHOWN_IDS]]
        shown = ", ".join(ids) + (" ..." if found.failed > SHOWN_IDS else "")
        return [
            f"{found.failed} credential(s) in the database do not open with "
            f"{KEY_RING_SETTING} ({shown}): put their keys back in the ring, or fix them first"
        ]

    def import_problems(self, repository: str, record: Any) -> dict[str, str]:
        """What refuses a credential of an export document: a stored form the ring cannot
        open, because it names a key the ring lacks (or is no sealed value at all). The
        value is never opened: an import carries ciphertext as it was stored."""
        if repository != "credentials":
            return {}
        key_id = key_id_of(record.sealed_data)
        if key_id is None:
            return {"sealed_data": "not a sealed value"}
        if self.ring is None or key_id not in self.ring:
            return {"sealed_data": f"sealed with key {key_id}, which {KEY_RING_SETTING} lacks"}
        return {}

    # -- writes -------------------------------------------------------------------------------
    def create(self, actor: Actor, fields: dict[str, Any]) -> Credential:
        credential = Credential(
            user_id=actor.user_id,
            name=fields["name"].strip(),
            type=fields["type"].strip(),
            sealed_data="",
            expires_at=_in_utc(fields.get("expires_at")),
            is_active=fields.get("is_active", True),
        )
        credential.sealed_data = self._seal(credential, fields["data"])

        def create(uow) -> Credential:
            uow.credentials.add(credential)
            summary = {"name": credential.name, "type": credential.type}
            audit.record(uow, actor, "credential.create", KIND, credential.id, summary)
            return credential

        return self.storage.atomic(create)

    def update(
        self,
        actor: Actor,
        credential_id: str,
        fields: dict[str, Any],
        expected_version: int | None = None,
    ) -> Credential:
        fields = {name: value for name, value in fields.items() if name in EDITABLE}
        for name in ("name", "type"):
            if name in fields:
                fields[name] = fields[name].strip()

        def update(uow) -> Credential:
            current = self._changeable(uow, credential_id, actor, expected_version)
            if not fields:
                return current  # nothing to change: nothing written
            plain = {name: value for name, value in fields.items() if name != "data"}
            if "expires_at" in plain:
                plain["expires_at"] = _in_utc(plain["expires_at"])
            changed = dataclasses.replace(
                current, **plain, version=current.version + 1, updated_at=utcnow()
            )
            if "data" in fields:
                changed.sealed_data = self._seal(changed, fields["data"])
            uow.credentials.update(changed)
            summary = audit.summarise(current, changed, [*plain, "sealed_data"])
            if "sealed_data" in summary:
                summary["data"] = summary.pop("sealed_data")  # named, never shown
            audit.record(uow, actor, "credential.update", KIND, credential_id, summary)
            return changed

        return self.storage.atomic(update)

    def delete(self, actor: Actor, credential_id: str, force: bool = False) -> None:
        """A credential a workflow of its owner uses is kept (409 naming the workflows)
        unless `force`."""

        def delete(uow) -> None:
            credential = self._changeable(uow, credential_id, actor, None)
            users = self._workflows_using(credential)
            if users and not force:
                raise Conflict(
                    "workflows use this credential: change them, or delete with force=true",
                    {"workflows": users},
                )
            uow.credentials.delete(credential_id)
            changes = {"name": credential.name, "forced": bool(users)}
            audit.record(uow, actor, "credential.delete", KIND, credential_id, changes)

        self.storage.atomic(delete)

    # -- helpers ------------------------------------------------------------------------------
    def _fetch(self, credential_id: str) -> Credential | None:
        if not is_uuid(credential_id):
            return None
        return self.storage.credentials.get(credential_id)

    @staticmethod
    def _changeable(
        uow, credential_id: str, actor: Actor, expected_version: int | None
    ) -> Credential:
        current = uow.credentials.get(credential_id) if is_uuid(credential_id) else None
        current = changeable(current, actor, KIND)
        if expected_version is not None and expected_version != current.version:
            raise Conflict(
                "the credential changed meanwhile",
                {"expected_version": expected_version, "current_version": current.version},
            )
        return current

    def _workflows_using(self, credential: Credential) -> list[dict[str, str]]:
        """The owner's workflows whose nodes name this credential, as {id, name}."""
        found, offset = [], 0
        while True:
            query = WorkflowQuery(
                user_id=credential.user_id, order="name", limit=200, offset=offset
            )
            page = self.storage.workflows.list(query)
            found += [
                {"id": workflow.id, "name": workflow.name}
                for workflow in page.items
                if credential.id in workflow.credential_ids
            ]
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return found

    def _touch(self, credential_id: str) -> None:
        """`last_used_at` to the minute (`TOUCH_EVERY`, as for API keys): a run is not a
        write each time, and an owner's edit rarely meets a changed version."""
        for attempt in range(TOUCH_ATTEMPTS):

            def touch(uow) -> None:
                current = uow.credentials.get(credential_id)
                now = utcnow()
                if current is not None and (
                    current.last_used_at is None or now - current.last_used_at > TOUCH_EVERY
                ):
                    used = dataclasses.replace(
                        current, last_used_at=now, version=current.version + 1
                    )
                    uow.credentials.update(used)

            try:
                self.storage.atomic(touch)
                return
            except Conflict:
                if attempt == TOUCH_ATTEMPTS - 1:
                    raise

    def key_ring(self) -> KeyRing:
        """The configured ring; a `Conflict` saying so when there is none."""
        if self.ring is None:
            raise Conflict("no key ring is configured (WF_ENCRYPTION_KEYS)")
        return self.ring

    def _seal(self, credential: Credential, data: dict[str, Any]) -> str:
        plaintext = json.dumps(data, separators=(",", ":")).encode()
        ring = self.key_ring()
        sealed = ring.seal(plaintext, credential.sealing_context())
        self.counts.sealed(ring.newest)
        return sealed

    def _open(self, credential: Credential) -> dict[str, Any]:
        try:
            plaintext = self.key_ring().open(credential.sealed_data, credential.sealing_context())
        except Undecryptable:
            self.counts.not_opened()
            raise
        return json.loads(plaintext)


def _in_utc(value: datetime | None) -> datetime | None:
    """One instant, one value, in every backend (SQLite keeps no offset)."""
    return as_utc(value) if value is not None else None
