"""Memory tables keep records packed (their JSON pickled): indexes follow updates and
deletes, units of work see what they stage, copies share nothing (not even JSON the
caller's record shared within itself), unusual JSON comes back exactly, quotas follow the
content, and threads read whole records. On a bare MemoryStore (no database)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from tests.factories import make_api_key, make_user, make_version, make_workflow
from wfplatform.backends.memory import MemoryStore
from wfplatform.domain.audit import AuditEntry
from wfplatform.domain.codec import copy_record, to_dict
from wfplatform.domain.workflows import VERSION_CONTENT, WORKFLOW_CONTENT, content_bytes
from wfplatform.errors import Conflict
from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.api_keys import MemoryApiKeyRepository
from wfplatform.repositories.audit import AuditQuery, MemoryAuditRepository
from wfplatform.repositories.users import MemoryUserRepository
from wfplatform.repositories.workflows import (
    MemoryWorkflowRepository,
    MemoryWorkflowVersionRepository,
    WorkflowQuery,
)


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for binding in REPOSITORIES:
        binding.memory.create_table(store)
    return store


def _ids(page) -> set[str]:
    return {w.id for w in page.items}


def _owner(store):
    return MemoryUserRepository(store).add(make_user())


def _nodes(node_type: str, credential: str) -> list:
    return [{"id": "a", "type": node_type, "credentials": {credential: {"id": "1"}}}]


def _index_values(store, table: str, index: str) -> set:
    return {value for value, keys in store.tables[table]._index[index].items() if keys}


def test_an_update_moves_every_json_derived_index(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner, tags=["old"], nodes=_nodes("set", "oldApi"), edges=[]))
    repo.update(dataclasses.replace(w, tags=["new"], nodes=_nodes("if", "newApi")))

    assert _ids(repo.list(WorkflowQuery(tags=("old",)))) == set()
    assert _ids(repo.list(WorkflowQuery(tags=("new",)))) == {w.id}
    assert _ids(repo.list(WorkflowQuery(node_type="set"))) == set()
    assert _ids(repo.list(WorkflowQuery(node_type="if"))) == {w.id}
    assert _ids(repo.list(WorkflowQuery(credential_type="oldApi"))) == set()
    assert _ids(repo.list(WorkflowQuery(credential_type="newApi"))) == {w.id}
    assert _index_values(store, "workflows", "tags") == {"new"}
    assert _index_values(store, "workflows", "node_types") == {"if"}


def test_search_follows_renames_and_deletes_case_folded(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner, name="Nightly Straße report", description="old words"))
    other = repo.add(make_workflow(owner, name="Something else", description="unrelated"))
    assert _ids(repo.list(WorkflowQuery(search="STRASSE"))) == {w.id}  # casefold: ß is ss
    assert _ids(repo.list(WorkflowQuery(search="old words"))) == {w.id}
    repo.update(dataclasses.replace(w, name="Weekly", description="new words"))
    assert _ids(repo.list(WorkflowQuery(search="straße"))) == set()
    assert _ids(repo.list(WorkflowQuery(search="old words"))) == set()
    assert _ids(repo.list(WorkflowQuery(search="weekly"))) == {w.id}
    assert repo.list(WorkflowQuery(search="words")).total == 1
    repo.delete(w.id)
    assert _ids(repo.list(WorkflowQuery(search="words"))) == set()
    assert store.tables["workflows"]._texts["search_text"].keys() == {other.id}


def test_a_delete_leaves_no_index_or_order_entry(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner, tags=["t"], nodes=_nodes("set", "x"), edges=[]))
    repo.delete(w.id)
    table = store.tables["workflows"]
    assert not any(table._index[name] for name in ("tags", "node_types", "credential_types"))
    assert all(len(order) == 0 for order in table._orders.values())
    assert table.records == {}


def test_a_unit_of_work_that_updates_then_deletes_cleans_the_indexes(store):
    owner = _owner(store)
    committed = MemoryWorkflowRepository(store)
    w = committed.add(make_workflow(owner, tags=["a"], nodes=_nodes("set", "x"), edges=[]))
    transaction = store.begin()
    repo = MemoryWorkflowRepository(store, transaction)
    repo.update(dataclasses.replace(w, tags=["b"], nodes=_nodes("if", "y")))
    assert _ids(repo.list(WorkflowQuery(tags=("b",)))) == {w.id}
    assert _ids(repo.list(WorkflowQuery(tags=("a",)))) == set()
    assert _ids(repo.list(WorkflowQuery(search=w.name))) == {w.id}
    repo.update(dataclasses.replace(w, name="Staged new name"))
    assert _ids(repo.list(WorkflowQuery(search="staged new"))) == {w.id}
    assert _ids(repo.list(WorkflowQuery(search=w.name))) == set()
    assert _ids(committed.list(WorkflowQuery(search="staged new"))) == set()
    repo.delete(w.id)
    assert _ids(repo.list(WorkflowQuery(tags=("b",)))) == set()
    assert _ids(repo.list(WorkflowQuery(search="staged new"))) == set()
    transaction.commit()
    table = store.tables["workflows"]
    assert not any(table._index[name] for name in ("tags", "node_types", "credential_types"))
    assert committed.list(WorkflowQuery()).total == 0
    assert committed.usage_of(owner.id).count == 0


def test_a_unit_of_work_sees_its_staged_json_in_lists_uniques_and_usage(store):
    owner = _owner(store)
    committed = MemoryWorkflowRepository(store)
    w = committed.add(make_workflow(owner, tags=["a"]))
    transaction = store.begin()
    repo = MemoryWorkflowRepository(store, transaction)
    bigger = dataclasses.replace(w, tags=["b"], settings={"blob": "x" * 1000})
    stored = repo.update(bigger)
    assert repo.usage_of(owner.id).bytes == content_bytes(stored, WORKFLOW_CONTENT)
    assert _ids(repo.list(WorkflowQuery(tags=("b",), search="workflow"))) == {w.id}
    (listed,) = repo.list(WorkflowQuery(user_id=owner.id)).items
    assert listed.settings == {"blob": "x" * 1000}
    # committed readers do not see it until the commit
    assert committed.get(w.id).tags == ["a"]
    transaction.commit()
    assert committed.get(w.id).tags == ["b"]
    assert committed.usage_of(owner.id).bytes == content_bytes(stored, WORKFLOW_CONTENT)


def test_a_unit_of_work_dropped_changes_nothing(store):
    owner = _owner(store)
    committed = MemoryWorkflowRepository(store)
    w = committed.add(make_workflow(owner, tags=["a"]))
    before = to_dict(committed.get(w.id))
    transaction = store.begin()
    repo = MemoryWorkflowRepository(store, transaction)
    changed = repo.update(dataclasses.replace(w, tags=["b"]))
    changed.nodes[0]["parameters"]["path"] = "/mutated-after"
    repo.add(make_workflow(owner, tags=["c"]))
    del transaction  # never committed
    assert to_dict(committed.get(w.id)) == before
    assert _ids(committed.list(WorkflowQuery(tags=("b",)))) == set()
    assert committed.count() == 1


def test_a_staged_unique_change_frees_and_takes_values(store):
    users = MemoryUserRepository(store)
    first = users.add(make_user(email="a@example.com"))
    transaction = store.begin()
    staged = MemoryUserRepository(store, transaction)
    staged.update(dataclasses.replace(first, email="b@example.com"))
    second = staged.add(make_user(email="A@example.com"))
    transaction.commit()
    assert users.get_by_email("a@example.com").id == second.id
    assert users.get_by_email("b@example.com").id == first.id
    with pytest.raises(Conflict):
        users.add(make_user(email="b@example.com"))


UNUSUAL = {
    "empty": [[], {}, [[]], [{}], {"a": {}}, {"a": []}],
    "big": 2**100,
    "negative_big": -(2**70),
    "float": 1e308,
    "tiny": 5e-324,
    "neg_zero": -0.0,
    "unicode": "Zoë ☃ 𝄞 \u200b",
    "none": None,
    "bools": [True, False, 0, 1],
    "deep": [[[[[[[[[[{"x": [1, 2, {"y": None}]}]]]]]]]]]],
}


def test_unusual_json_comes_back_exactly_with_its_types(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = make_workflow(owner, settings=dict(UNUSUAL), tags=[])
    w.nodes[0]["parameters"]["extra"] = dict(UNUSUAL)
    expected = to_dict(w)
    repo.add(w)
    back = repo.get(w.id)
    assert to_dict(back) == expected
    assert type(back.settings["big"]) is int and back.settings["big"] == 2**100
    assert [type(v) for v in back.settings["bools"]] == [bool, bool, int, int]
    assert str(back.settings["neg_zero"]) == "-0.0"
    assert back.stored_bytes == content_bytes(back, WORKFLOW_CONTENT)
    assert repo.usage_of(owner.id).bytes == content_bytes(w, WORKFLOW_CONTENT)


def test_empty_json_fields_round_trip(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner, tags=[], nodes=[], edges=[], settings={}))
    back = repo.get(w.id)
    assert (back.tags, back.nodes, back.edges, back.settings) == ([], [], [], {})
    assert repo.list(WorkflowQuery(user_id=owner.id)).total == 1


def test_usage_follows_updates_and_deletes(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    versions = MemoryWorkflowVersionRepository(store)
    w = repo.add(make_workflow(owner))
    versions.add(make_version(w, 1))
    grown = repo.update(dataclasses.replace(w, settings={"big": "y" * 5000}))
    assert repo.usage_of(owner.id).bytes == content_bytes(grown, WORKFLOW_CONTENT)
    shrunk = repo.update(dataclasses.replace(grown, settings={}, nodes=[], edges=[]))
    assert repo.usage_of(owner.id).bytes == content_bytes(shrunk, WORKFLOW_CONTENT)
    v2 = versions.add(make_version(shrunk, 2, settings={"z": "q" * 300}))
    expected = content_bytes(make_version(w, 1), VERSION_CONTENT) + content_bytes(
        v2, VERSION_CONTENT
    )
    assert versions.usage_of(owner.id).bytes == expected


def test_a_handed_out_record_can_be_changed_without_changing_storage(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner, tags=["keep"]))
    expected = to_dict(repo.get(w.id))
    for got in (
        repo.get(w.id),
        repo.fetch_many([w.id])[w.id],
        next(iter(repo.iter_all())),
        repo.list(WorkflowQuery(tags=("keep",))).items[0],
        repo.list(WorkflowQuery(search="workflow", order="name")).items[0],
    ):
        got.tags.append("caller")
        got.nodes[0]["parameters"]["path"] = "/caller"
        got.nodes.append({"id": "z", "type": "zz"})
        got.settings.clear()
    assert to_dict(repo.get(w.id)) == expected
    assert _ids(repo.list(WorkflowQuery(tags=("caller",)))) == set()


def test_a_callers_record_changed_after_add_or_update_does_not_reach_storage(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = make_workflow(owner, tags=["t"])
    repo.add(w)
    expected = to_dict(copy_record(w))
    w.tags.append("later")
    w.nodes[0]["parameters"]["path"] = "/later"
    w.settings["huge"] = "h" * 10_000
    assert to_dict(repo.get(w.id)) == expected
    assert repo.usage_of(owner.id).bytes == content_bytes(repo.get(w.id), WORKFLOW_CONTENT)
    assert _ids(repo.list(WorkflowQuery(tags=("later",)))) == set()

    fresh = repo.get(w.id)
    stored = repo.update(fresh)
    expected = to_dict(copy_record(stored))
    stored.settings["huge"] = "h" * 10_000
    fresh.settings["huge"] = "h" * 10_000
    assert to_dict(repo.get(w.id)) == expected
    assert repo.usage_of(owner.id).bytes == content_bytes(repo.get(w.id), WORKFLOW_CONTENT)


def test_a_callers_record_changed_inside_a_unit_of_work_does_not_reach_storage(store):
    owner = _owner(store)
    transaction = store.begin()
    repo = MemoryWorkflowRepository(store, transaction)
    w = make_workflow(owner, tags=["t"])
    repo.add(w)
    expected = to_dict(copy_record(w))
    w.tags.append("later")
    w.settings["huge"] = "h" * 10_000
    transaction.commit()
    committed = MemoryWorkflowRepository(store)
    assert to_dict(committed.get(w.id)) == expected
    stored = committed.get(w.id)
    assert committed.usage_of(owner.id).bytes == content_bytes(stored, WORKFLOW_CONTENT)
    assert _ids(committed.list(WorkflowQuery(tags=("later",)))) == set()


def test_a_fetched_record_changed_in_place_and_restored_is_charged_for_its_content(store):
    """A caller that changes a fetched workflow's JSON and writes it back (restore) must
    be charged for the new content, as the database charges it."""
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    w = repo.add(make_workflow(owner))
    fetched = repo.get(w.id)
    fetched.settings["huge"] = "h" * 10_000
    assert repo.restore(fetched) == "updated"
    assert repo.usage_of(owner.id).bytes == content_bytes(repo.get(w.id), WORKFLOW_CONTENT)


def test_versions_read_whole_from_memory(store):
    owner = _owner(store)
    w = MemoryWorkflowRepository(store).add(make_workflow(owner))
    versions = MemoryWorkflowVersionRepository(store)
    for n in (1, 2, 3):
        versions.add(make_version(w, n, settings={"n": n, "nested": {"l": [n]}}))
    assert [v.settings["n"] for v in versions.list_for(w.id)] == [1, 2, 3]
    page = versions.page_for(w.id, 2, 0)
    assert [v.number for v in page.items] == [3, 2] and page.total == 3
    got = versions.get_number(w.id, 2)
    assert got.nodes == w.nodes and got.settings == {"n": 2, "nested": {"l": [2]}}
    got.settings["nested"]["l"].append(99)
    assert versions.get_number(w.id, 2).settings["nested"]["l"] == [2]
    assert versions.latest_number(w.id) == 3
    assert versions.delete_for(w.id) == 3
    assert versions.list_for(w.id) == []
    versions.add(make_version(w, 1))  # a deleted version's number is free again
    with pytest.raises(Conflict):
        versions.add(make_version(w, 1))


def test_users_keys_and_audit_entries_in_memory(store):
    users = MemoryUserRepository(store)
    keys = MemoryApiKeyRepository(store)
    audit = MemoryAuditRepository(store)
    user = users.add(make_user())
    key = keys.add(make_api_key(user))
    assert keys.get_by_hash(key.key_hash) == key
    assert keys.list_for(user.id) == [key]
    assert users.list().items == [user]
    entry = audit.add(
        AuditEntry("x.y", "user", user.id, user.id, changes={"a": {"before": [1], "after": []}})
    )
    entry.changes["a"]["after"].append("caller")
    (listed,) = audit.list(AuditQuery(actor_id=user.id)).items
    assert listed.changes == {"a": {"before": [1], "after": []}}
    listed.changes.clear()
    assert audit.get(entry.id).changes == {"a": {"before": [1], "after": []}}
    transaction = store.begin()
    staged = MemoryAuditRepository(store, transaction)
    staged.add(AuditEntry("x.z", "user", user.id, user.id, changes={"b": 1}))
    listed = staged.list(AuditQuery(resource_id=user.id)).items
    assert sorted(e.action for e in listed) == ["x.y", "x.z"]
    assert {e.action: e.changes for e in listed}["x.z"] == {"b": 1}


def _assert_whole(workflow) -> None:
    """One write's record, every field of it: no field from another write."""
    n = workflow.settings["n"]
    assert workflow.tags == [f"t{n}"]
    assert workflow.settings.get("l", []) == [n] * n
    assert workflow.stored_bytes == content_bytes(workflow, WORKFLOW_CONTENT)
    assert workflow.version == n + 1


def _write_repeatedly(repo, workflow, errors: list) -> None:
    try:
        current = workflow
        for n in range(1, 150):
            current = repo.update(
                dataclasses.replace(current, tags=[f"t{n}"], settings={"n": n, "l": [n] * n})
            )
    except BaseException as error:  # noqa: BLE001
        errors.append(error)


def _read_until(stop: threading.Event, repo, owner_id: str, errors: list) -> None:
    try:
        while not stop.is_set():
            for got in repo.list(WorkflowQuery(user_id=owner_id, limit=10)).items:
                _assert_whole(got)
    except BaseException as error:  # noqa: BLE001
        errors.append(error)


def test_threads_read_whole_consistent_records_while_others_write(store):
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    workflows = [repo.add(make_workflow(owner, tags=["t0"], settings={"n": 0})) for _ in range(5)]
    errors: list[BaseException] = []
    stop = threading.Event()

    readers = [
        threading.Thread(target=_read_until, args=(stop, repo, owner.id, errors)) for _ in range(3)
    ]
    writers = [
        threading.Thread(target=_write_repeatedly, args=(repo, w, errors)) for w in workflows
    ]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert _ids(repo.list(WorkflowQuery(tags=("t149",)))) == {w.id for w in workflows}
    assert _index_values(store, "workflows", "tags") == {"t149"}
    expected = sum(content_bytes(repo.get(w.id), WORKFLOW_CONTENT) for w in workflows)
    assert repo.usage_of(owner.id).bytes == expected


def test_shared_json_inside_one_record_is_not_shared_by_the_copies_handed_out(store):
    """What the database hands back shares nothing between two places of one record;
    memory must not either: changing one node's parameters changes only that node."""
    owner = _owner(store)
    repo = MemoryWorkflowRepository(store)
    parameters = {"path": "/same"}
    w = make_workflow(
        owner,
        nodes=[
            {"id": "a", "type": "webhook", "parameters": parameters},
            {"id": "b", "type": "webhook", "parameters": parameters},
        ],
        edges=[],
    )
    repo.add(w)
    fetched = repo.get(w.id)
    fetched.nodes[0]["parameters"]["path"] = "/changed"
    assert fetched.nodes[1]["parameters"]["path"] == "/same"
