"""What an import does with security state, and how it is told.

A restore brings records back as exported, with one exception: security state never goes
back in time. An older export would otherwise bring back an old password hash (and with it
every token issued before the password changed, and the old password), an active copy of a
key revoked since, or an account deactivated since. For a record the target holds, the
import therefore keeps the target's password hash, lockout state and role (an export must
not promote an account whose keys and tokens live on: `create-admin --promote` revokes them
first), keeps a revocation and a deactivation whichever side has it, and takes everything
else from the document. Each repository's spec declares its fields and their rules
(`RepositorySpec.security`). Every such kept field is reported (dry runs included), logged
and audited.

Each user and API key an import inserts, updates or keeps security state of gets its own
audit entry (`user.import`, `api_key.import`) in the unit of work that writes it: ids,
emails and key names, changed fields by name, plain values (a role) from/to; never a hash.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from ..repositories import BY_NAME
from ..repositories.base import IDENTICAL
from ..repositories.security_state import OnImport, SecurityState
from ..services import audit
from ..services.context import Actor

log = logging.getLogger(__name__)


def _current(now: Any, exported: Any) -> Any:
    return now


def _revoked(now: Any, exported: Any) -> Any:
    """The revocation, whichever side has one (the target's when both do)."""
    return now if now is not None else exported


def _inactive(now: bool, exported: bool) -> bool:
    return now and exported


# What to store, given the target's value and the document's (the spec names the rule).
RULES: dict[OnImport, Callable[[Any, Any], Any]] = {
    OnImport.KEEP_TARGETS: _current,
    OnImport.SET_ON_EITHER: _revoked,
    OnImport.TRUE_ON_BOTH: _inactive,
}


def _state(repository: str) -> SecurityState | None:
    return BY_NAME[repository].spec.security


def guarded(repository: str) -> bool:
    return _state(repository) is not None


def secured(repository: str, current: Any | None, record: Any) -> tuple[Any, list[str]]:
    """The record to store instead of `record` when the target holds `current`, and the
    security fields (in rule order) whose exported value was not taken."""
    state = _state(repository)
    if state is None or current is None:
        return record, []
    stored = {
        name: RULES[rule](getattr(current, name), getattr(record, name))
        for name, rule in state.fields
    }
    kept = [name for name, value in stored.items() if value != getattr(record, name)]
    if not kept:
        return record, []
    return dataclasses.replace(record, **{name: stored[name] for name in kept}), kept


def kept_entry(repository: str, record: Any, kept: list[str]) -> dict[str, Any]:
    """A report's line for a record whose security state the import kept."""
    identity = {name: getattr(record, name) for name in _guarded_state(repository).identity}
    return {"id": record.id, **identity, "fields": kept}


def restore_guarded(uow, repository: str, record: Any, actor: Actor) -> tuple[str, list[str]]:
    """Restore one record with security state (a user, a key) in `uow`, that state kept,
    and audit it; returns the outcome and the fields kept."""
    state = _guarded_state(repository)
    target = uow.repository(repository)
    current = target.get(record.id)
    record, kept = secured(repository, current, record)
    outcome = target.restore(record)
    if outcome == IDENTICAL and not kept:
        return outcome, kept
    fields = [field.name for field in dataclasses.fields(record) if field.name != "id"]
    changes: dict[str, Any] = {name: getattr(record, name) for name in state.identity}
    changes.update(outcome=outcome, fields=audit.summarise(current, record, fields))
    if kept:
        changes["security_kept"] = kept
        log.warning(
            "import kept the current %s of %s %s over the document's",
            ", ".join(kept),
            state.resource,
            record.id,
        )
    audit.record(uow, actor, f"{state.resource}.import", state.resource, record.id, changes)
    return outcome, kept


def _guarded_state(repository: str) -> SecurityState:
    state = _state(repository)
    if state is None:
        raise ValueError(f"{repository} declares no security state")
    return state
