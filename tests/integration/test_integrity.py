"""The integrity check finds what constraints should have prevented, in every backend in use,
and removes only what is safe to remove: orphans that own nothing, whose parent is gone."""

from __future__ import annotations

import pytest

from tests.factories import make_api_key, make_user, make_version, make_workflow
from wfplatform.backends.sql import new_session
from wfplatform.backup import check_integrity
from wfplatform.errors import Conflict
from wfplatform.storage.modes import MEMORY


def plant_in_memory(storage, repository: str, record) -> None:
    """What the replication primitives (or old data) can leave: no checks at all."""
    storage.in_memory(repository).upsert(record)


def store_in_the_database_only(storage, repository: str, record) -> None:
    with new_session(storage.parts.engine) as session:
        storage.parts.bindings[repository].sql(session).upsert(record)
        session.commit()


def test_a_clean_store_has_no_problems(make_storage):
    storage = make_storage("dual", read_from=MEMORY)
    user = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(user))
    storage.workflow_versions.add(make_version(workflow, 1, created_by=user.id))
    storage.api_keys.add(make_api_key(user))

    report = check_integrity(storage)

    assert (report["problems"], report["found"], report["fixed"]) == (0, 0, 0)
    assert set(report["backends"]) == {"memory", "database"}
    assert report["backends"]["database"]["workflows"]["checked"] == 1


def test_an_orphan_planted_in_memory_is_found_and_removed(make_storage):
    storage = make_storage("memory-only")
    user = storage.users.add(make_user())
    orphan = make_version(make_workflow(user), 1)  # its workflow was never stored
    lost_key = make_api_key(make_user())
    plant_in_memory(storage, "workflow_versions", orphan)
    plant_in_memory(storage, "api_keys", lost_key)

    report = check_integrity(storage)

    assert report["problems"] == 2
    (found,) = report["backends"]["memory"]["workflow_versions"]["orphans"]
    assert found == {
        "id": orphan.id,
        "detail": f"workflow_id: no workflows {orphan.workflow_id}",
        "removable": True,
        "fixed": False,
    }
    fixed = check_integrity(storage, fix=True)
    assert (fixed["fixed"], fixed["problems"]) == (2, 0)
    assert storage.in_memory("workflow_versions").fetch(orphan.id) is None
    assert storage.in_memory("api_keys").fetch(lost_key.id) is None
    assert check_integrity(storage)["found"] == 0


def test_users_and_workflows_are_never_deleted_and_duplicates_are_only_reported(make_storage):
    storage = make_storage("memory-only")
    stray = make_workflow(make_user())  # its owner is gone
    plant_in_memory(storage, "workflows", stray)
    plant_in_memory(storage, "users", make_user(email="Ada@example.com"))
    plant_in_memory(storage, "users", make_user(email="ada@EXAMPLE.com"))

    report = check_integrity(storage, fix=True)

    assert (report["problems"], report["fixed"]) == (2, 0)
    (orphan,) = report["backends"]["memory"]["workflows"]["orphans"]
    assert (orphan["id"], orphan["removable"]) == (stray.id, False)
    (duplicate,) = report["backends"]["memory"]["users"]["duplicates"]
    assert duplicate["detail"] == "2 records share one email"
    assert storage.in_memory("workflows").fetch(stray.id) is not None
    assert storage.in_memory("users").count() == 2


def test_an_orphan_whose_parent_the_other_backend_has_is_not_removed(make_storage):
    """The backends diverged: copying the parent is the cure, not deleting the child."""
    storage = make_storage("dual", read_from=MEMORY)
    owner = make_user()
    store_in_the_database_only(storage, "users", owner)
    key = make_api_key(owner)
    plant_in_memory(storage, "api_keys", key)

    report = check_integrity(storage, fix=True)

    (orphan,) = report["backends"]["memory"]["api_keys"]["orphans"]
    assert orphan["removable"] is False and "database has it" in orphan["detail"]
    assert report["problems"] == 1
    assert storage.in_memory("api_keys").fetch(key.id) is not None


def test_broken_references_in_the_database_are_reported(make_storage):
    storage = make_storage("database-only")
    user = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(user))
    ghost = make_user()
    version = make_version(workflow, 1, created_by=ghost.id)  # created_by has no foreign key
    broken_graph = make_version(workflow, 2, edges=[{"from": "a", "to": "nowhere"}])
    storage.workflow_versions.add(version)
    storage.workflow_versions.add(broken_graph)

    report = check_integrity(storage, fix=True)

    assert set(report["backends"]) == {"database"}
    found = report["backends"]["database"]["workflow_versions"]["broken_references"]
    details = {item["id"]: item["detail"] for item in found}
    assert details[version.id] == f"created_by: no users {ghost.id}"
    assert "missing nodes" in details[broken_graph.id]
    assert (report["problems"], report["fixed"]) == (2, 0)


def test_fixing_waits_for_the_journal(make_storage):
    storage = make_storage("dual", read_from=MEMORY)
    storage.parts.journal.append([])  # a write waiting for the database
    with pytest.raises(Conflict, match="replay it first"):
        check_integrity(storage, fix=True)
    assert check_integrity(storage)["problems"] == 0  # checking alone is fine
