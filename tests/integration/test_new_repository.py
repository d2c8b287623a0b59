"""A repository added to a running deployment, and switches that would leave a repository
looking for the records a reference joins in a backend the other side does not write to."""

from __future__ import annotations

import pytest

from tests.conftest import build_storage
from tests.factories import make_user
from tests.gadgets import WITH_GADGETS, Gadget, gadget_table  # noqa: F401 (a fixture)
from wfplatform.errors import GuardRefused
from wfplatform.storage.modes import DATABASE, Mode


@pytest.mark.usefixtures("gadget_table")
def test_a_new_repository_starts_where_its_parents_are(engine, tmp_path):
    """The deployment walked to database-only; the release adding gadgets starts with the
    configured default (memory-only) as every start does. Gadgets are empty: they start
    database-only beside their users, so memory's parent check does not refuse them."""
    before = build_storage(engine, tmp_path / "before.log", "database-only")
    owner = before.users.add(make_user())
    before.close()

    after = build_storage(engine, tmp_path / "after.log", "memory-only", repositories=WITH_GADGETS)
    try:
        gadget = after.repository("gadgets").add(Gadget(user_id=owner.id, name="lamp"))
        assert after.repository("gadgets").get(gadget.id) == gadget
        assert after.parts.modes.get("gadgets").label() == "database-only"
        assert after.parts.modes.history()[0]["repository"] == "gadgets"
    finally:
        after.close()


@pytest.mark.usefixtures("gadget_table")
def test_on_a_fresh_database_a_new_repository_takes_the_default_as_its_parents_do(engine, tmp_path):
    storage = build_storage(engine, tmp_path / "j.log", "dual", repositories=WITH_GADGETS)
    try:
        assert {mode.label() for mode in storage.parts.modes.snapshot().values()} == {
            "dual(read_from=memory)"
        }
    finally:
        storage.close()


def test_a_parent_switched_where_its_children_do_not_look_is_refused(make_storage):
    """Children in dual reading the database fall back to memory, where they would look
    for a user that database-only users no longer write there."""
    storage = make_storage("dual", read_from=DATABASE)
    with pytest.raises(GuardRefused) as refused:
        storage.switch("database-only", repositories=["users"], reason="users first", actor="ops")
    reasons = refused.value.details["refused"]["users"]
    assert (
        "workflows (dual(read_from=database)) would look for its users in memory (when it "
        "falls back), which users (database-only) does not write to: switch them together, "
        "or switch fallback off first"
    ) in reasons
    assert any(reason.startswith("api_keys (") for reason in reasons)
    assert storage.parts.modes.get("users").mode is Mode.DUAL


def test_a_child_switched_where_its_parent_does_not_write_is_refused_unless_forced(make_storage):
    storage = make_storage("database-only")
    moving_back = {"reason": "keys back", "actor": "ops", "repositories": ["api_keys"]}
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=DATABASE, **moving_back)
    assert refused.value.details["refused"]["api_keys"] == [
        "api_keys (dual(read_from=database)) would look for its users in memory (when it "
        "falls back), which users (database-only) does not write to: switch them together, "
        "or switch fallback off first"
    ]
    storage.switch("dual", read_from=DATABASE, fallback=False, **moving_back)
    assert storage.parts.modes.get("api_keys").label() == "dual(read_from=database)"
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from="memory", **moving_back)
    assert refused.value.details["refused"]["api_keys"] == [
        "api_keys (dual(read_from=memory)) would look for its users in memory, which users "
        "(database-only) does not write to: switch them together"
    ]
    result = storage.switch("dual", read_from="memory", force=True, **moving_back)
    assert result["forced"] is True
    assert storage.parts.modes.history()[0]["forced"] is True


def test_switching_them_together_is_not_refused(make_storage):
    storage = make_storage("dual", read_from=DATABASE)
    storage.switch("database-only", reason="all at once", actor="ops")
    assert {mode.mode for mode in storage.parts.modes.snapshot().values()} == {Mode.DATABASE_ONLY}
