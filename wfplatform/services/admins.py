"""The first admin, whatever the storage mode.

`flask wf create-admin` runs in its own process, which cannot reach a server's memory, so
admins are always written to the database as well; when the users repository reads from
memory, a starting service copies them into memory, and a login with an email memory does
not know looks for such an admin too (so a running server needs no restart). `WF_ADMIN_EMAIL` with
`WF_ADMIN_PASSWORD` (or `WF_ADMIN_PASSWORD_FILE`) does the same at start-up, idempotently."""

from __future__ import annotations

import dataclasses
import logging

import sqlalchemy as sa

from ..domain.codec import utcnow
from ..domain.users import User
from ..errors import Conflict
from ..models import UserModel
from ..storage.adapter import Storage
from ..storage.modes import Mode
from ..storage.sql import new_session, translate_faults
from .passwords import Passwords

log = logging.getLogger(__name__)


def ensure_admin(
    storage: Storage, passwords: Passwords, email: str, password: str, *, reset: bool = True
) -> User:
    """Create the admin in the database, or make the existing account an admin with this
    password (`reset=False`: an existing admin is kept as it is); then let memory know too.
    Several workers starting at once may race to create it: the losers keep the winner's
    admin (rewriting its password hash, salted anew, would sign out whoever logged in)."""
    password_hash = passwords.hash(password)
    try:
        admin = _store_admin(storage, email, password_hash, reset)
    except Conflict:
        admin = _store_admin(storage, email, password_hash, reset=False)
    load_admins_into_memory(storage)
    return admin


def _store_admin(storage: Storage, email: str, password_hash: str, reset: bool) -> User:
    with translate_faults(), new_session(storage.engine, write=True) as session:
        users = storage.bindings["users"].sql(session)
        existing = users.get_by_email(email)
        if existing is not None and existing.role == "admin" and not reset:
            return existing
        if existing is None:
            admin = User(email=email.strip(), password_hash=password_hash, name="Administrator")
        else:
            admin = dataclasses.replace(existing, password_hash=password_hash, updated_at=utcnow())
        admin = dataclasses.replace(admin, role="admin")
        users.upsert(admin)
        session.commit()
    return admin


def load_admins_into_memory(storage: Storage, email: str | None = None) -> int:
    """Copy database admins (all, or the one with `email`) that memory lacks into memory,
    unless memory is out of use (`database-only`); returns how many were copied."""
    if storage.modes.get("users").mode is Mode.DATABASE_ONLY:
        return 0
    query = sa.select(UserModel).where(UserModel.role == "admin")
    if email is not None:
        query = query.where(UserModel.email_key == email.strip().lower())
    with translate_faults(), new_session(storage.engine) as session:
        rows = session.scalars(query)
        admins = [storage.bindings["users"].sql(session).from_row(row) for row in rows]
    memory = storage.memory_repository("users")
    copied = 0
    for admin in admins:
        with storage.changing([("users", admin.id)]), storage.memory.lock:
            holder = memory.get_by_email(admin.email)
            if holder is not None and holder.id != admin.id:
                log.warning("admin %s not loaded: its email is taken in memory", admin.id)
            elif holder != admin:
                memory.upsert(admin)
                copied += 1
    return copied


def bootstrap(storage: Storage, passwords: Passwords, config: dict) -> User | None:
    """At start-up: pick up admins made from the CLI, and ensure the `WF_ADMIN_EMAIL` one."""
    load_admins_into_memory(storage)
    email = config.get("WF_ADMIN_EMAIL")
    if not email:
        return None
    password = config.get("WF_ADMIN_PASSWORD")
    if not password and config.get("WF_ADMIN_PASSWORD_FILE"):
        with open(config["WF_ADMIN_PASSWORD_FILE"], encoding="utf-8") as handle:
            password = handle.read().strip()
    if not password:
        log.error("WF_ADMIN_EMAIL is set without WF_ADMIN_PASSWORD or WF_ADMIN_PASSWORD_FILE")
        return None
    existing = storage.users.get_by_email(email)
    if existing is not None and existing.role == "admin":
        return existing  # idempotent: a restart does not reset a changed password
    return ensure_admin(storage, passwords, email, password, reset=False)
