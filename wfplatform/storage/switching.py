"""Switching modes at runtime, per repository or all at once, behind the guards."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..domain.codec import utcnow
from ..errors import GuardRefused, ValidationFailed
from . import placement
from .modes import RepositoryMode
from .readiness import backend_counts, step_refusals

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
) -> dict:
    """Switch `repositories` (all when None) to `mode`; refused with reasons unless `force`."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required for a mode change")
    names = list(repositories) if repositories else list(storage.bindings)
    unknown = [name for name in names if name not in storage.bindings]
    if unknown:
        raise ValidationFailed(f"unknown repositories: {', '.join(unknown)}")
    with storage.gate.switch():
        current = storage.modes.snapshot()
        targets, refused = {}, {}
        for name in names:
            settings = {
                "shadow_rate": current[name].shadow_rate if shadow_rate is None else shadow_rate,
                "fallback": current[name].fallback if fallback is None else fallback,
                "changed_at": utcnow(),
            }
            targets[name] = RepositoryMode.of(mode, read_from, **settings)
            counts = backend_counts(storage, name)
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
        storage.modes.apply(targets, actor=actor, reason=reason, forced=bool(refused))
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
