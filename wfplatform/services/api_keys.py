"""API keys for machine clients: shown once, stored as SHA-256, listed without the
secret, revocable. A key is 256 random bits, so a fast hash is the right one (a slow
password hash protects guessable secrets, which these are not)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import timedelta

from ..domain.api_keys import ApiKey
from ..domain.codec import utcnow
from ..domain.users import User
from ..errors import NotFound, Unauthorized
from ..storage.adapter import Storage
from . import audit
from .context import Actor

KEY_PREFIX = "wfk_"
TOUCH_EVERY = timedelta(minutes=1)


def is_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def create(self, user_id: str, name: str, actor: Actor) -> tuple[ApiKey, str]:
        """The stored key and the secret, which is never available again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            user_id=user_id, name=name.strip(), prefix=secret[:12], key_hash=_digest(secret)
        )

        def create(uow) -> ApiKey:
            uow.api_keys.add(key)
            audit.record(uow, actor, "api_key.create", "api_key", key.id, {"name": key.name})
            return key

        return self.storage.atomic(create), secret

    def list(self, user_id: str) -> list[ApiKey]:
        return self.storage.api_keys.list_for(user_id)

    def revoke(self, user_id: str, key_id: str, actor: Actor) -> ApiKey:
        def revoke(uow) -> ApiKey:
            key = uow.api_keys.get(key_id)
            if key is None or key.user_id != user_id:
                raise NotFound("no such API key")
            return _revoke(uow, key, actor) if key.revoked_at is None else key

        return self.storage.atomic(revoke)

    def authenticate(self, secret: str) -> User:
        key = self.storage.api_keys.get_by_hash(_digest(secret))
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key is not valid")
        user = self.storage.users.get(key.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("the API key is not valid")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
            self.storage.api_keys.update(dataclasses.replace(key, last_used_at=now))
        return user


def revoke_all(uow, user_id: str, actor: Actor, reason: str) -> int:
    """Revoke, in the caller's unit of work, every key of a user still live; how many."""
    live = [key for key in uow.api_keys.list_for(user_id) if key.revoked_at is None]
    for key in live:
        _revoke(uow, key, actor, {"reason": reason})
    return len(live)


def _revoke(uow, key: ApiKey, actor: Actor, changes: dict | None = None) -> ApiKey:
    revoked = uow.api_keys.update(dataclasses.replace(key, revoked_at=utcnow()))
    audit.record(uow, actor, "api_key.revoke", "api_key", key.id, changes)
    return revoked
