"""Switching modes at runtime, per repository or all at once, behind the guards."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..domain.codec import utcnow
from ..errors import GuardRefused, ValidationFailed
from . import placement
from .guard_counts import gathered
from .mode_registry import ModeChangeAudit
from .modes import RepositoryMode
from .parts import StorageParts
from .readiness import step_refusals

log = logging.getLogger(__name__)


def switch(
    parts: StorageParts,
    mode: str,
    *,
    wake_worker: Callable[[], None],
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
    makes the switch's audit entry, stored with it (see `ModeRegistry.apply`).
    `wake_worker` has the background worker load at once the memory copies a walk back
    from `database-only` needs."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required for a mode change")
    names = list(repositories) if repositories else list(parts.bindings)
    unknown = [name for name in names if name not in parts.bindings]
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

    ahead = parts.modes.snapshot()
    planned = targets_from(ahead)
    steps = {name: (ahead[name], planned[name]) for name in names}
    with gathered(parts, steps) as guard_counts, parts.gate.switch():
        current = parts.modes.snapshot()
        targets = targets_from(current)
        refused = {}
        for name in names:
            counts = guard_counts.counts(name, current[name], targets[name])
            reasons = step_refusals(parts, name, current[name], targets[name], counts)
            if reasons:
                refused[name] = reasons
        specs = [binding.spec for binding in parts.bindings.values()]
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
        parts.modes.apply(targets, actor=actor, reason=reason, forced=bool(refused), audit=audit)
        parts.warmup.expect_walked_back(current, targets)
        wake_worker()
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
