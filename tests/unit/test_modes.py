from __future__ import annotations

import pytest

from wfplatform.errors import ValidationFailed
from wfplatform.storage.modes import DATABASE, MEMORY, Mode, RepositoryMode
from wfplatform.storage.readiness import BackendCounts, refusals


def test_each_mode_implies_its_primary_and_secondary():
    assert RepositoryMode.of("memory-only").secondary is None
    dual = RepositoryMode.of("dual")
    assert (dual.primary, dual.secondary) == (MEMORY, DATABASE)
    flipped = RepositoryMode.of("dual", DATABASE)
    assert (flipped.primary, flipped.secondary) == (DATABASE, MEMORY)
    assert RepositoryMode.of("database-only").primary == DATABASE


def test_only_dual_reading_the_database_falls_back():
    assert RepositoryMode.of("dual", DATABASE).can_fall_back
    assert not RepositoryMode.of("dual", DATABASE, fallback=False).can_fall_back
    assert not RepositoryMode.of("database-only").can_fall_back


@pytest.mark.parametrize(
    ("mode", "read_from"), [("memory-only", DATABASE), ("database-only", MEMORY), ("x", None)]
)
def test_contradictions_are_rejected(mode, read_from):
    with pytest.raises(ValidationFailed):
        RepositoryMode.of(mode, read_from)


def test_walking_back_from_database_only_is_one_step():
    current = RepositoryMode.of("database-only")
    assert refusals(current, RepositoryMode.of("dual", DATABASE), BackendCounts()) == []
    assert refusals(current, RepositoryMode.of("dual", MEMORY), BackendCounts())
    assert Mode("dual") is Mode.DUAL
