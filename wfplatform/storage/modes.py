"""Storage modes, the steps between them, and what each means for reads and writes.

The cut-over walks four steps, one at a time and each reversible:
memory-only -> dual reading memory -> dual reading the database -> database-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from ..domain.codec import utcnow
from ..errors import ValidationFailed

MEMORY = "memory"
DATABASE = "database"


class Mode(StrEnum):
    MEMORY_ONLY = "memory-only"
    DUAL = "dual"
    DATABASE_ONLY = "database-only"


STEPS = (
    (Mode.MEMORY_ONLY, MEMORY),
    (Mode.DUAL, MEMORY),
    (Mode.DUAL, DATABASE),
    (Mode.DATABASE_ONLY, DATABASE),
)


@dataclass(frozen=True)
class RepositoryMode:
    """The mode of one repository; `read_from` is also its primary (the backend written first)."""

    mode: Mode = Mode.MEMORY_ONLY
    read_from: str = MEMORY
    shadow_rate: float = 0.0
    fallback: bool = True
    changed_at: datetime = field(default_factory=utcnow)

    @classmethod
    def of(cls, mode: str, read_from: str | None = None, **settings) -> RepositoryMode:
        try:
            parsed = Mode(mode)
        except ValueError:
            choices = ", ".join(m.value for m in Mode)
            raise ValidationFailed(f"unknown mode {mode!r}; choose one of {choices}") from None
        if parsed is Mode.MEMORY_ONLY:
            implied = MEMORY
        elif parsed is Mode.DATABASE_ONLY:
            implied = DATABASE
        else:
            implied = read_from or MEMORY
        if read_from not in (None, implied) or implied not in (MEMORY, DATABASE):
            raise ValidationFailed(f"read_from={read_from!r} is not valid with mode {mode}")
        shadow_rate = settings.get("shadow_rate", 0.0)
        if not 0.0 <= float(shadow_rate) <= 1.0:
            raise ValidationFailed("shadow_rate must be between 0 and 1")
        return cls(mode=parsed, read_from=implied, **settings)

    @property
    def step(self) -> int:
        return STEPS.index((self.mode, self.read_from))

    @property
    def primary(self) -> str:
        return self.read_from

    @property
    def secondary(self) -> str | None:
        if self.mode is not Mode.DUAL:
            return None
        return DATABASE if self.read_from == MEMORY else MEMORY

    @property
    def uses_database(self) -> bool:
        return self.mode is not Mode.MEMORY_ONLY

    @property
    def can_fall_back(self) -> bool:
        """Database faults are served from memory only in dual reading the database."""
        return self.mode is Mode.DUAL and self.read_from == DATABASE and self.fallback

    def with_settings(self, **changes) -> RepositoryMode:
        return replace(self, **changes)

    def describe(self) -> dict:
        return {
            "mode": self.mode.value,
            "read_from": self.read_from,
            "shadow_rate": self.shadow_rate,
            "fallback": self.fallback,
            "since": self.changed_at.isoformat(),
        }

    def label(self) -> str:
        return (
            self.mode.value if self.mode is not Mode.DUAL else f"dual(read_from={self.read_from})"
        )


def needs_one_process(modes: Mapping[str, RepositoryMode]) -> list[str]:
    """The repositories whose mode keeps records in process memory, as their primary copy
    or as a fallback: while there is any, run one serving process (each process's memory
    would hold different records)."""
    return [name for name, mode in modes.items() if mode.primary == MEMORY or mode.can_fall_back]
