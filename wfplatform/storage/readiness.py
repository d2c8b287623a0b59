"""Whether each next step of the cut-over is safe for a repository, and every reason not:
the adapter's (`refusals`) and the repository's own (its spec's `readiness` check).

The mode switch's guards use exactly this (`step_refusals`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import StorageUnavailable
from . import fleet
from .modes import STEPS, RepositoryMode
from .parts import StorageParts
from .recent import WINDOW_SECONDS, Thresholds
from .verify import compare_repository


@dataclass
class BackendCounts:
    """How far memory and the database are apart for one repository, and how it went
    recently."""

    only_in_memory: int = 0
    only_in_database: int = 0
    differing: int = 0
    journal: int = 0
    database_error: str | None = None
    recent_operations: int = 0
    recent_errors: int = 0
    recent_mismatches: int = 0

    @property
    def recent_error_rate(self) -> float:
        return self.recent_errors / max(self.recent_operations, 1)


def backend_counts(
    parts: StorageParts,
    repository: str,
    *,
    compare: Callable[[], dict[str, int] | None] | None = None,
    others: Callable[[], fleet.Others] | None = None,
) -> BackendCounts:
    """The journals and recent counts of every process on the database (`others`, default
    `fleet.others`), and the comparison's counts by kind from `compare`: by default a
    complete comparison (a guard must see stale copies, not only missing ones); a switch
    gives its own (see `guard_counts`), which answers None for a step no guard compares for."""
    if compare is None:
        compare = lambda: compare_repository(parts, repository)["counts"]  # noqa: E731
    recent = parts.stats.recent(repository)
    counts = BackendCounts(journal=len(parts.journal))
    try:
        elsewhere = others() if others is not None else fleet.others(parts)
        counts.journal += elsewhere.journal
        recent += elsewhere.recent_of(repository)
        found = compare()
    except StorageUnavailable as fault:
        counts.database_error = fault.message
        found = None
    counts.recent_operations = recent["operations"]
    counts.recent_errors = recent["errors"]
    counts.recent_mismatches = recent["mismatches"]
    if found is not None:
        counts.only_in_memory = found["only_in_memory"]
        counts.only_in_database = found["only_in_database"]
        counts.differing = found["differing"]
    return counts


def compares(current: RepositoryMode, target: RepositoryMode) -> bool:
    """Whether the guards of this step (`refusals`) use the comparison of the backends:
    moving reads to the database, or in dual back to memory. The other single steps keep
    reading the copy they read (memory-only to dual among them), so no comparison could
    show them losing anything."""
    return _reads_database_now(current, target) or _reads_memory_again(current, target)


def _reads_database_now(current: RepositoryMode, target: RepositoryMode) -> bool:
    return target.step >= 2 and target.step > current.step


def _reads_memory_again(current: RepositoryMode, target: RepositoryMode) -> bool:
    return target.step == 1 and current.step == 2


def refusals(
    current: RepositoryMode,
    target: RepositoryMode,
    counts: BackendCounts,
    thresholds: Thresholds | None = None,
) -> list[str]:
    """Reasons the step from `current` to `target` could lose or hide data."""
    reasons = []
    if abs(target.step - current.step) > 1:
        between = STEPS[current.step + (1 if target.step > current.step else -1)]
        reasons.append(
            f"one step at a time: switch to {between[0].value} reading {between[1]} first"
        )
    if target.uses_database and counts.database_error:
        reasons.append(f"the database does not answer: {counts.database_error}")
    reads_database_now = _reads_database_now(current, target)
    reads_memory_again = _reads_memory_again(current, target)
    if reads_database_now and counts.only_in_memory:
        reasons.append(
            f"{counts.only_in_memory} records exist only in memory: run the backfill first"
        )
    if (reads_database_now or reads_memory_again) and counts.differing:
        fix = "run the backfill" if reads_database_now else "load memory"
        reasons.append(
            f"{counts.differing} records differ between memory and the database: {fix} first"
        )
    if reads_database_now and counts.journal:
        reasons.append(f"the sync journal holds {counts.journal} writes: run sync first")
    if current.fallback and not target.fallback and counts.journal:
        reasons.append(
            f"the sync journal holds {counts.journal} writes: run sync before turning fallback off"
        )
    if target.step > current.step:
        reasons += _recent_trouble(counts, thresholds or Thresholds())
    if reads_memory_again and counts.only_in_database:
        reasons.append(
            f"{counts.only_in_database} records exist only in the database: load memory first"
        )
    return reasons


def step_refusals(
    parts: StorageParts,
    repository: str,
    current: RepositoryMode,
    target: RepositoryMode,
    counts: BackendCounts,
) -> list[str]:
    """`refusals`, then the repository's own reasons."""
    reasons = refusals(current, target, counts, parts.thresholds)
    return reasons + own_refusals(parts, repository, current, target)


def own_refusals(
    parts: StorageParts, repository: str, current: RepositoryMode, target: RepositoryMode
) -> list[str]:
    """What the repository's own checks say against the step: its spec's (see
    `RepositorySpec.readiness`) and those added for it (`Storage.add_readiness_check`)."""
    checks = [parts.bindings[repository].spec.readiness, *parts.readiness_checks[repository]]
    reasons: list[str] = []
    for check in checks:
        if check is None:
            continue
        try:
            reasons += check(parts, current, target)
        except StorageUnavailable as fault:
            reasons.append(f"{repository}'s own readiness check could not run: {fault.message}")
    return reasons


def readiness(parts: StorageParts, repository: str) -> dict:
    current = parts.modes.get(repository)
    counts = backend_counts(parts, repository)
    steps = {}
    for step in (current.step - 1, current.step + 1):
        if 0 <= step < len(STEPS):
            mode, read_from = STEPS[step]
            target = RepositoryMode.of(mode.value, read_from)
            reasons = step_refusals(parts, repository, current, target, counts)
            steps[target.label()] = {"safe": not reasons, "reasons": reasons}
    return {
        "repository": repository,
        "current": current.label(),
        "only_in_memory": counts.only_in_memory,
        "only_in_database": counts.only_in_database,
        "differing": counts.differing,
        "journal": counts.journal,
        "database_error": counts.database_error,
        "recent": {
            "window_seconds": WINDOW_SECONDS,
            "operations": counts.recent_operations,
            "errors": counts.recent_errors,
            "mismatches": counts.recent_mismatches,
        },
        "last_verify": parts.last_verify.get(repository),
        "steps": steps,
    }


def _recent_trouble(counts: BackendCounts, thresholds: Thresholds) -> list[str]:
    reasons = []
    if counts.recent_errors and counts.recent_error_rate > thresholds.max_error_rate:
        reasons.append(
            f"{counts.recent_errors} errors in {counts.recent_operations} operations in the "
            f"last {WINDOW_SECONDS // 60} minutes, over the {thresholds.max_error_rate:.1%} "
            "threshold: find the cause before moving forward"
        )
    if counts.recent_mismatches > thresholds.max_mismatches:
        reasons.append(
            f"{counts.recent_mismatches} shadow-read mismatches in the last "
            f"{WINDOW_SECONDS // 60} minutes: run verify and look at the samples first"
        )
    return reasons
