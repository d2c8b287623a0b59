"""A repository's own readiness check (its spec's `readiness`): its reasons are in the
readiness report beside the adapter's, and the switch refuses on them unless forced."""

from __future__ import annotations

import pytest

from tests.conftest import build_storage
from tests.factories import make_user
from tests.gadgets import SEALED, WITH_GADGETS, Gadget, gadget_table  # noqa: F401 (a fixture)
from wfplatform.errors import GuardRefused
from wfplatform.storage.modes import DATABASE

READS_DATABASE = "dual(read_from=database)"
pytestmark = pytest.mark.usefixtures("gadget_table")
REFUSAL = "1 gadget secrets do not open with the current key: re-encrypt them first"


@pytest.fixture
def storage(engine, tmp_path):
    storage = build_storage(engine, tmp_path / "journal.log", "dual", repositories=WITH_GADGETS)
    yield storage
    storage.close()


def add_gadgets(storage, *secrets: str) -> None:
    owner = storage.users.add(make_user())
    for secret in secrets:
        storage.repository("gadgets").add(Gadget(user_id=owner.id, name="lamp", secret=secret))


def test_the_readiness_report_shows_the_repositorys_own_reasons(storage):
    add_gadgets(storage, "opens", f"{SEALED}old")
    steps = storage.readiness("gadgets")["steps"]
    assert steps[READS_DATABASE] == {"safe": False, "reasons": [REFUSAL]}
    assert steps["memory-only"] == {"safe": True, "reasons": []}


def test_the_switch_refuses_on_them_unless_forced(storage):
    add_gadgets(storage, f"{SEALED}old")
    step = {"read_from": DATABASE, "reason": "reads", "actor": "ops"}
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", **step)
    assert refused.value.details["refused"] == {"gadgets": [REFUSAL]}
    assert storage.switch("dual", dry_run=True, force=True, **step)["refused"] == {
        "gadgets": [REFUSAL]
    }
    storage.switch("dual", force=True, **step)
    assert storage.parts.modes.get("gadgets").label() == READS_DATABASE


def test_a_repository_whose_check_finds_nothing_moves_on(storage):
    add_gadgets(storage, "opens")
    assert storage.readiness("gadgets")["steps"][READS_DATABASE]["safe"] is True
    storage.switch("dual", read_from=DATABASE, reason="reads", actor="ops")
