"""The first admin, whatever the storage mode.

`flask wf create-admin` runs in its own process, which cannot reach a server's memory, so
admins are always written to the database as well; when the users repository reads from
memory, a starting service copies them into memory, and a login with an email memory does
not know looks for such an admin too (so a running server needs no restart). `WF_ADMIN_EMAIL` with
`WF_ADMIN_PASSWORD` (or `WF_ADMIN_PASSWORD_FILE`) does the same at start-up, idempotently.

An existing account that is not an admin is never promoted by accident (registering the
address early must not become admin access): only `promote=True` (`--promote`) does, and
then revokes its API keys, and its tokens and login back-off go with its old password."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from types import SimpleNamespace

import sqlalchemy as sa

from ..domain.codec import utcnow
from ..domain.users import User
from ..errors import Conflict
from ..models import UserModel
from ..storage import audit_outbox
from ..storage.adapter import Storage
from ..storage.modes import Mode
from ..storage.on_database import OnDatabase
from . import api_keys, audit
from .context import SYSTEM, Actor
from .passwords import Passwords

log = logging.getLogger(__name__)


class NotAnAdmin(Conflict):
    """The email belongs to an account that is not an admin, and promoting was not asked."""

    def __init__(self, email: str) -> None:
        super().__init__(
            f"{email} is an existing account that is not an admin; promote it explicitly "
            "(flask wf create-admin --promote), which revokes its API keys and sessions",
            {"field": "email"},
        )


def ensure_admin(
    storage: Storage,
    passwords: Passwords,
    email: str,
    password: str,
    *,
    reset: bool = True,
    promote: bool = False,
    actor: Actor = SYSTEM,
) -> User:
    """Create the admin in the database, or give the existing admin this password
    (`reset=False`: an existing admin is kept as it is), or with `promote` make an existing
    account an admin; then let memory know too. Several workers starting at once may race
    to create it: the losers keep the winner's admin (rewriting its password hash, salted
    anew, would sign out whoever logged in)."""
    password_hash = passwords.hash(password)
    account = storage.users.get_by_email(email) or _in_database(storage, email)
    if account is None:
        admin = _create(storage, email, password_hash, actor)
    elif account.role != "admin" and not promote:
        raise NotAnAdmin(email)
    elif account.role != "admin" or reset:
        admin = _change(storage, account, password_hash, actor)
    else:
        admin = account
    _keep_in_database(storage, admin)
    load_admins_into_memory(storage)
    return admin


class _AuditEntries(list):
    """The audit trail of a unit of work run on the database alone: committed with it in
    the outbox, then written through the adapter, so memory-first modes have the entries
    too, the server's as well as this process's (see `audit.AuditLog.deliver`)."""

    def add(self, entry) -> None:
        self.append(entry)


def _database_repositories(database: OnDatabase) -> SimpleNamespace:
    return SimpleNamespace(**{name: database.repository(name) for name in ("users", "api_keys")})


def _on_the_database(storage: Storage, work: Callable[[SimpleNamespace], User]) -> User:
    """Run `work` on the database's own repositories, for what this process's memory cannot
    see (`flask wf create-admin` runs apart from the server)."""
    entries = _AuditEntries()
    with storage.on_database(write=True) as database:
        repositories = _database_repositories(database)
        result = work(SimpleNamespace(**vars(repositories), audit_logs=entries))
        for entry in entries:
            audit_outbox.put(database.session, entry)
        database.commit()
    if entries:
        audit.AuditLog(storage).deliver()
    return result


def _in_database(storage: Storage, email: str) -> User | None:
    with storage.on_database() as database:
        return database.repository("users").get_by_email(email)


def _create(storage: Storage, email: str, password_hash: str, actor: Actor) -> User:
    def create(work) -> User:
        admin = User(
            email=email.strip(), password_hash=password_hash, name="Administrator", role="admin"
        )
        work.users.add(admin)
        audit.record(work, actor, "user.create_admin", "user", admin.id, {"password": "set"})
        return admin

    try:
        return _on_the_database(storage, create)
    except Conflict:  # another worker created it meanwhile: keep theirs
        winner = _in_database(storage, email)
        if winner is None or winner.role != "admin":
            raise NotAnAdmin(email) from None
        return winner


def _change(storage: Storage, account: User, password_hash: str, actor: Actor) -> User:
    """Give an account the admin role (a promotion) and this password, revoking its API
    keys as any password change does; where this process sees the account, through the
    adapter, else on the database alone."""

    def change(work) -> User:
        user = work.users.get(account.id)
        admin = work.users.update(
            dataclasses.replace(
                user, role="admin", password_hash=password_hash, updated_at=utcnow()
            )
        )
        promoted = user.role != "admin"
        reason = "promotion" if promoted else "password_reset"
        changes = {
            "password": "changed",
            "api_keys_revoked": api_keys.revoke_all(work, user.id, actor, reason=reason),
        }
        if promoted:
            changes["role"] = {"from": user.role, "to": "admin"}
        action = "user.promote" if promoted else "user.password_reset"
        audit.record(work, actor, action, "user", user.id, changes)
        return admin

    if storage.users.get(account.id) is not None:
        return storage.atomic(change)
    return _on_the_database(storage, change)


def _keep_in_database(storage: Storage, admin: User) -> None:
    """Admins are in the database whatever the mode, so other processes and a restart in
    `memory-only` find them (`dual` and `database-only` wrote it there already)."""
    if storage.mode("users").mode is not Mode.MEMORY_ONLY:
        return
    with storage.on_database(write=True) as database:
        database.repository("users").upsert(admin)
        database.commit()


def load_admins_into_memory(storage: Storage, email: str | None = None) -> int:
    """Copy database admins (all, or the one with `email`) that memory lacks into memory,
    unless memory is out of use (`database-only`); returns how many were copied. An admin
    promoted by another process brings the revocation of its keys along: memory must never
    hold a live key of an account it now knows as an admin."""
    if storage.mode("users").mode is Mode.DATABASE_ONLY:
        return 0
    query = sa.select(UserModel).where(UserModel.role == "admin")
    if email is not None:
        query = query.where(UserModel.email_key == email.strip().lower())
    with storage.on_database() as database:
        work = _database_repositories(database)
        admins = [work.users.from_row(row) for row in database.session.scalars(query)]
        revoked = {
            admin.id: [key for key in work.api_keys.list_for(admin.id) if key.revoked_at]
            for admin in admins
        }
    memory = storage.in_memory("users")
    copied = 0
    for admin in admins:
        with storage.changing([("users", admin.id)]), storage.holding_memory():
            holder = memory.get_by_email(admin.email)
            if holder is not None and holder.id != admin.id:
                log.warning("admin %s not loaded: its email is taken in memory", admin.id)
            elif holder != admin:
                _revoke_in_memory(storage, revoked[admin.id])
                memory.upsert(admin)
                copied += 1
    return copied


def _revoke_in_memory(storage: Storage, revoked: list) -> None:
    """Only ever revokes: a key memory holds live that the database has revoked."""
    if storage.mode("api_keys").mode is Mode.DATABASE_ONLY:
        return
    keys = storage.in_memory("api_keys")
    for key in revoked:
        held = keys.fetch(key.id)
        if held is not None and held.revoked_at is None:
            with storage.changing([("api_keys", key.id)]):
                keys.upsert(dataclasses.replace(held, revoked_at=key.revoked_at))


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
    actor = Actor(user_id=None, role="admin", user_agent="startup:WF_ADMIN_EMAIL")
    try:
        return ensure_admin(storage, passwords, email, password, reset=False, actor=actor)
    except NotAnAdmin:
        log.error(
            "WF_ADMIN_EMAIL=%s is an existing account that is not an admin: not promoted "
            "(flask wf create-admin --email %s --promote makes it one, revoking its keys)",
            email,
            email,
        )
        return None
