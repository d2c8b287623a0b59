"""Accounts: registration, login with lockout, profiles and passwords."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import timedelta

from ..domain.codec import utcnow
from ..domain.users import User
from ..errors import Conflict, Forbidden, Locked, Unauthorized
from ..storage.adapter import Storage
from . import admins, audit
from .context import Actor
from .passwords import Passwords
from .tokens import Tokens, password_stamp

WRONG_CREDENTIALS = "the email or the password is wrong"
LOCKED = "the account is locked after repeated failed logins; try again later"


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_seconds: int = 900


class Accounts:
    def __init__(
        self, storage: Storage, passwords: Passwords, tokens: Tokens, lockout: LockoutPolicy
    ) -> None:
        self.storage = storage
        self.passwords = passwords
        self.tokens = tokens
        self.lockout = lockout

    def register(self, email: str, password: str, name: str, actor: Actor) -> User:
        user = User(
            email=email.strip(), name=name.strip(), password_hash=self.passwords.hash(password)
        )

        def create(uow) -> User:
            if uow.users.get_by_email(user.email) is not None:
                raise Conflict("an account with this email already exists", {"field": "email"})
            uow.users.add(user)
            audit.record(
                uow, dataclasses.replace(actor, user_id=user.id), "user.register", "user", user.id
            )
            return user

        return self.storage.atomic(create)

    def login(self, email: str, password: str, actor: Actor) -> tuple[str, User]:
        """A token for the right password. A locked account answers `Locked` whether the
        password is right or not; an unknown email costs one hash check like a known one."""
        user = self.storage.users.get_by_email(email)
        if user is None and admins.load_admins_into_memory(self.storage, email):
            user = self.storage.users.get_by_email(email)  # made by `flask wf create-admin`
        now = utcnow()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            raise Locked(LOCKED, retry_after=math.ceil((user.locked_until - now).total_seconds()))
        right = self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not right or not user.is_active:
            if user is not None:
                self._count_failure(user.id, actor)
            raise Unauthorized(WRONG_CREDENTIALS)
        if (
            user.failed_logins
            or user.locked_until
            or self.passwords.needs_rehash(user.password_hash)
        ):
            user = self._after_success(user, password)
        return self.tokens.issue(user), user

    def _count_failure(self, user_id: str, actor: Actor) -> None:
        def count(uow) -> None:
            user = uow.users.get(user_id)
            failures = user.failed_logins + 1
            changes = {"failed_logins": failures, "updated_at": utcnow()}
            if failures >= self.lockout.max_failures:
                changes.update(
                    failed_logins=0,
                    locked_until=utcnow() + timedelta(seconds=self.lockout.lock_seconds),
                )
                audit.record(uow, actor, "user.locked", "user", user_id)
            uow.users.update(dataclasses.replace(user, **changes))

        self.storage.atomic(count)

    def _after_success(self, user: User, password: str) -> User:
        changes = {"failed_logins": 0, "locked_until": None, "updated_at": utcnow()}
        if self.passwords.needs_rehash(user.password_hash):
            changes["password_hash"] = self.passwords.hash(password)
        return self.storage.users.update(dataclasses.replace(user, **changes))

    def authenticate_token(self, token: str) -> User:
        user_id, stamp = self.tokens.read(token)
        user = self.storage.users.get(user_id)
        if user is None or not user.is_active or password_stamp(user) != stamp:
            raise Unauthorized("the access token is no longer valid; log in again")
        return user

    def update_profile(self, user_id: str, changes: dict, actor: Actor) -> User:
        def update(uow) -> User:
            user = uow.users.get(user_id)
            if "email" in changes:
                holder = uow.users.get_by_email(changes["email"])
                if holder is not None and holder.id != user_id:
                    raise Conflict("an account with this email already exists", {"field": "email"})
            updated = uow.users.update(dataclasses.replace(user, **changes, updated_at=utcnow()))
            summary = audit.summarise(user, updated, sorted(changes))
            audit.record(uow, actor, "user.update", "user", user_id, summary)
            return updated

        return self.storage.atomic(update)

    def change_password(self, user_id: str, current: str, new: str, actor: Actor) -> str:
        """Returns a fresh token: the change invalidates every token issued before."""
        user = self.storage.users.get(user_id)
        if user is None or not self.passwords.verify(user.password_hash, current):
            raise Forbidden("the current password is wrong")
        new_hash = self.passwords.hash(new)

        def change(uow) -> User:
            fresh = uow.users.get(user_id)
            updated = uow.users.update(
                dataclasses.replace(fresh, password_hash=new_hash, updated_at=utcnow())
            )
            audit.record(
                uow, actor, "user.password_change", "user", user_id, {"password": "changed"}
            )
            return updated

        return self.tokens.issue(self.storage.atomic(change))
