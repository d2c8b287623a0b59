"""A record's security state, as its repository declares it for imports (see
`backup.security`, which applies it): what an import never takes back in time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OnImport(StrEnum):
    """What an import stores in a security field of a record the target already holds."""

    KEEP_TARGETS = "the target's value"
    SET_ON_EITHER = "the target's if set, else the document's"  # a revocation
    TRUE_ON_BOTH = "true only if true on both sides"  # an active account


@dataclass(frozen=True)
class SecurityState:
    """The fields of a record's security state an import never takes back in time (see
    `backup.security`), in the order reports list them; the fields that name a record in
    reports and the audit trail (never a secret); the audit trail's resource type."""

    resource: str
    identity: tuple[str, ...]
    fields: tuple[tuple[str, OnImport], ...]
