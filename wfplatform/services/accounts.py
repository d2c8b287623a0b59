"""Accounts: registration, login (throttled: see login_throttle), profiles and passwords."""

from __future__ import annotations

import dataclasses

from ..domain.codec import utcnow
from ..domain.users import User
from ..errors import Conflict, Forbidden, StorageUnavailable, Unauthorized
from ..storage.adapter import Storage
from . import admins, api_keys, audit
from .context import Actor
from .login_throttle import Attempt, LoginThrottle
from .passwords import Passwords
from .tokens import Tokens, password_stamp

WRONG_CREDENTIALS = "the email or the password is wrong"
WRONG_PASSWORD = "the current password is wrong"


class Accounts:
    def __init__(
        self, storage: Storage, passwords: Passwords, tokens: Tokens, throttle: LoginThrottle
    ) -> None:
        self.storage = storage
        self.passwords = passwords
        self.tokens = tokens
        self.throttle = throttle

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
        """A token for the right password. An unknown email costs one hash check like a
        known one and is throttled the same way, so the answers never tell them apart."""
        user = self.storage.users.get_by_email(email)
        self.throttle.check(self._attempt(email, user, actor))  # before any work to time
        if self._admin_made_elsewhere(email):  # by `flask wf create-admin`
            user = self.storage.users.get_by_email(email)
        if not self._password_checks(email, user, password, actor):
            raise Unauthorized(WRONG_CREDENTIALS)
        if self.passwords.needs_rehash(user.password_hash):
            rehashed = self.passwords.hash(password)
            user = self.storage.users.update(
                dataclasses.replace(user, password_hash=rehashed, updated_at=utcnow())
            )
        return self.tokens.issue(user), user

    def confirm_password(self, user: User, password: str | None, actor: Actor) -> None:
        """Ask for the password again before a sensitive change (GitHub's sudo mode); a
        wrong one counts as a failed login, so a stolen token cannot guess it quickly."""
        if not self._password_checks(user.email, user, password or "", actor):
            raise Forbidden(WRONG_PASSWORD)

    def _admin_made_elsewhere(self, email: str) -> bool:
        """Whether an admin made by another process just reached memory. Asked for every
        email, known or not, and an outage counts as no: the answer (and its time) must
        not tell registered emails from others."""
        try:
            return admins.load_admins_into_memory(self.storage, email) > 0
        except StorageUnavailable:
            return False

    @staticmethod
    def _attempt(email: str, user: User | None, actor: Actor) -> Attempt:
        generation = password_stamp(user) if user is not None else ""
        return Attempt(email, actor.ip or "", generation)

    def _password_checks(self, email: str, user: User | None, password: str, actor: Actor) -> bool:
        attempt = self._attempt(email, user, actor)
        admission = self.throttle.admit(attempt)
        right = self.passwords.verify(user.password_hash if user else None, password)
        if right and user is not None and user.is_active:
            self.throttle.succeeded(attempt, admission)
            return True
        return False

    def authenticate_token(self, token: str) -> User:
        user_id, stamp = self.tokens.read(token)
        user = self.storage.users.get(user_id)
        if user is None or not user.is_active or password_stamp(user) != stamp:
            raise Unauthorized("the access token is no longer valid; log in again")
        return user

    def update_profile(
        self, user_id: str, changes: dict, actor: Actor, current_password: str | None = None
    ) -> User:
        """Change the name or the email; the email only with the current password."""
        if "email" in changes:
            self.confirm_password(self.storage.users.get(user_id), current_password, actor)

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

    def change_password(
        self, user_id: str, current: str, new: str, actor: Actor
    ) -> tuple[str, User]:
        """A fresh token and the account, as login answers: the change invalidates every
        token issued before and revokes every API key (a key holder must not outlive the
        password)."""
        self.confirm_password(self.storage.users.get(user_id), current, actor)
        new_hash = self.passwords.hash(new)

        def change(uow) -> User:
            fresh = uow.users.get(user_id)
            updated = uow.users.update(
                dataclasses.replace(fresh, password_hash=new_hash, updated_at=utcnow())
            )
            revoked = api_keys.revoke_all(uow, user_id, actor, reason="password_change")
            changes = {"password": "changed", "api_keys_revoked": revoked}
            audit.record(uow, actor, "user.password_change", "user", user_id, changes)
            return updated

        changed = self.storage.atomic(change)
        return self.tokens.issue(changed), changed
