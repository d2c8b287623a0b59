"""Switching modes at runtime, per repository or all at once, behind the guards."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..domain.codec import utcnow
from ..errors import GuardRefused, ValidationFailed
from . import placement
from .guard_counts import gathered
from .mode_registry import ModeChangeAudit
from .modes import RepositoryMode
from .readiness import step_refusals

if TYPE_CHECKING:
    from .adapter import Storage

log = logging.getLogger(__name__)


def switch(
    storage: Storage,
    mode: str,
    *,
    reason: str,
    actor: str,
    read_from: str | None = None,
    repositories: Iterable[str] | None = None,
    shadow_rate: float | None = None,
    fallback: bool | None = None,
    force: bool = False,
    dry_run: bool = False,
    audit: ModeChangeAudit | None = None,
) -> dict:
    """Switch `repositories` (all when None) to `mode`; refused with reasons unless `force`.
    The guards' comparisons run before the gate is taken (see `guard_counts`). `audit`
    makes the switch's audit entry, stored with it (see `ModeRegistry.apply`)."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required for a mode change")
    names = list(repositories) if repositories else list(storage.bindings)
    unknown = [name for name in names if name not in storage.bindings]
    if unknown:
        raise ValidationFailed(f"unknown repositories: {', '.join(unknown)}")

    def targets_from(current: dict[str, RepositoryMode]) -> dict[str, RepositoryMode]:
        return {
            name: RepositoryMode.of(
                mode,
                read_from,
                shadow_rate=current[name].shadow_rate if shadow_rate is None else shadow_rate,
                fallback=current[name].fallback if fallback is None else fallback,
                changed_at=utcnow(),
            )
            for name in names
        }

    ahead = storage.modes.snapshot()
    planned = targets_from(ahead)
    steps = {name: (ahead[name], planned[name]) for name in names}
    with gathered(storage, steps) as guard_counts, storage.gate.switch():
        current = storage.modes.snapshot()
        targets = targets_from(current)
        refused = {}
        for name in names:
            counts = guard_counts.counts(name, current[name], targets[name])
            reasons = step_refusals(storage, name, current[name], targets[name], counts)
            if reasons:
                refused[name] = reasons
        specs = [binding.spec for binding in storage.bindings.values()]
        for name, reasons in placement.refusals(specs, {**current, **targets}, names).items():
            refused.setdefault(name, []).extend(reasons)
        result = {
            "dry_run": dry_run,
            "forced": bool(refused) and force,
            "refused": refused,
            "modes": {name: targets[name].describe() for name in names},
        }
        if refused and not force:
            log.warning("mode switch to %s refused: %s", targets[names[0]].label(), refused)
            raise GuardRefused("the switch could lose or hide data", {"refused": refused})
        if dry_run:
            return result
        storage.modes.apply(targets, actor=actor, reason=reason, forced=bool(refused), audit=audit)
        storage.warmup.expect_walked_back(current, targets)
        storage.sync_worker.wake()
        # A forced switch overrode the guards: worth a warning, with what they said.
        log.log(
            logging.WARNING if refused else logging.INFO,
            "storage mode of %s switched to %s by %s%s: %s",
            ", ".join(names),
            targets[names[0]].label(),
            actor,
            f" (forced past: {refused})" if refused else "",
            reason,
        )
        return result
