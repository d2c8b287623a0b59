"""Records that belong to one user (workflows, credentials): anyone else is told they do
not exist (404, so ids do not leak); admins may read every one but change only their own
(403 otherwise, as they can see it anyway)."""

from __future__ import annotations

from typing import Any, TypeVar

from ..errors import Forbidden, NotFound
from .context import Actor

OWNER_ME, OWNER_ALL = "me", "all"
Owned = TypeVar("Owned")


def owner_scope(actor: Actor, owner: str, kind: str) -> str | None:
    """The user id a list of `kind`s is limited to; None for every user's. `owner`: `me`,
    or for admins `all` or a user id."""
    if owner in (OWNER_ME, actor.user_id):
        return actor.user_id
    if not actor.is_admin:
        raise Forbidden(f"only admins may list other users' {kind}s")
    return None if owner == OWNER_ALL else owner


def readable(record: Owned | None, actor: Actor, kind: str) -> Owned:
    if record is None or (_owner(record) != actor.user_id and not actor.is_admin):
        raise NotFound(f"no such {kind}")
    return record


def changeable(record: Owned | None, actor: Actor, kind: str) -> Owned:
    record = readable(record, actor, kind)
    if _owner(record) != actor.user_id:
        raise Forbidden(f"admins may read other users' {kind}s but not change them")
    return record


def _owner(record: Any) -> str:
    return record.user_id
