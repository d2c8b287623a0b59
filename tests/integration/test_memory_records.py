"""Records memory keeps packed, through the adapter on real SQLite and PostgreSQL: every
mode answers alike (quotas and copies too); export, import, verify and backfill read
memory whole."""

from __future__ import annotations

import dataclasses
import io

import pytest

from tests.factories import (
    make_api_key,
    make_credential,
    make_execution,
    make_node_execution,
    make_user,
    make_version,
    make_workflow,
)
from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.backup import import_export, read_export, write_export
from wfplatform.domain.audit import AuditEntry
from wfplatform.domain.codec import to_dict
from wfplatform.domain.workflows import WORKFLOW_CONTENT, content_bytes
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.modes import DATABASE, MEMORY

MODES = [
    pytest.param("memory-only", None, id="memory-only"),
    pytest.param("dual", MEMORY, id="dual-read-memory"),
    pytest.param("dual", DATABASE, id="dual-read-database"),
    pytest.param("database-only", None, id="database-only"),
]
ODD = {
    "empty": [[], {}, [[]], {"a": {}}],
    "big": 2**62,
    "float": 0.1,
    "unicode": "Zoë ☃ 𝄞",
    "none": None,
    "deep": [[[[{"x": [1, {"y": None}]}]]]],
}


def _populate(storage) -> None:
    for _ in range(3):
        user = storage.users.add(make_user(name="Zoë ☃"))
        workflow = storage.workflows.add(make_workflow(user, settings=dict(ODD), tags=["x", "y"]))
        storage.workflows.update(dataclasses.replace(workflow, tags=["z"], name="renamed"))
        storage.workflow_versions.add(make_version(workflow, 1, created_by=user.id))
        storage.api_keys.add(make_api_key(user))
        storage.credentials.add(make_credential(user))
        execution = storage.executions.add(make_execution(user, workflow_id=workflow.id))
        storage.node_executions.add(make_node_execution(execution, output=[[{"ok": "☃"}]]))
        storage.audit_logs.add(
            AuditEntry("user.create", "user", user.id, user.id, changes={"n": {"a": [1]}})
        )


def _export(storage) -> str:
    stream = io.StringIO()
    write_export(storage, stream, "0004")
    return stream.getvalue()


def _contents(text: str) -> dict:
    found: dict = {}
    for name, data in read_export(io.StringIO(text)):
        found.setdefault(name, []).append(data)
    return found


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_a_fetched_workflow_changed_and_restored_counts_its_new_size(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    fetched = storage.workflows.get(workflow.id)
    fetched.settings["huge"] = "h" * 10_000
    assert storage.workflows.restore(fetched) == "updated"
    stored = storage.workflows.get(workflow.id)
    assert stored.settings["huge"] == "h" * 10_000
    assert storage.workflows.usage_of(owner.id).bytes == content_bytes(stored, WORKFLOW_CONTENT)


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_one_node_changed_on_a_fetched_copy_changes_only_that_node(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    owner = storage.users.add(make_user())
    parameters = {"path": "/same"}
    nodes = [
        {"id": "a", "type": "webhook", "parameters": parameters},
        {"id": "b", "type": "webhook", "parameters": parameters},
    ]
    workflow = storage.workflows.add(make_workflow(owner, nodes=nodes, edges=[]))
    fetched = storage.workflows.get(workflow.id)
    fetched.nodes[0]["parameters"]["path"] = "/changed"
    stored = storage.workflows.update(fetched)
    assert [n["parameters"]["path"] for n in storage.workflows.get(stored.id).nodes] == [
        "/changed",
        "/same",
    ]


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_json_derived_filters_follow_updates_and_deletes(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    owner = storage.users.add(make_user())
    nodes = [{"id": "a", "type": "set", "credentials": {"oldApi": {}}}]
    workflow = storage.workflows.add(make_workflow(owner, tags=["old"], nodes=nodes, edges=[]))
    new_nodes = [{"id": "a", "type": "if", "credentials": {"newApi": {}}}]
    updated = storage.workflows.update(dataclasses.replace(workflow, tags=["new"], nodes=new_nodes))

    def ids(**filters) -> set[str]:
        return {w.id for w in storage.workflows.list(WorkflowQuery(**filters)).items}

    assert ids(tags=("old",)) == ids(node_type="set") == ids(credential_type="oldApi") == set()
    assert (
        ids(tags=("new",)) == ids(node_type="if") == ids(credential_type="newApi") == {workflow.id}
    )

    def update_then_delete(uow) -> None:
        current = uow.workflows.get(workflow.id)
        uow.workflows.update(dataclasses.replace(current, tags=["third"]))
        uow.workflows.delete(workflow.id)

    storage.atomic(update_then_delete)
    assert updated.version == 2
    assert ids(tags=("new",)) == ids(tags=("third",)) == ids(node_type="if") == set()
    assert storage.workflows.usage_of(owner.id).count == 0
    if mode == "dual":
        assert storage.verify()["differences"] == 0


def test_a_memory_only_export_imports_back_as_it_was(make_storage, engine):
    source = make_storage("memory-only")
    _populate(source)
    exported = _export(source)
    target = make_storage("memory-only")
    report = import_export(target, io.StringIO(exported), schema_revision="0004")
    assert all(r["written"]["inserted"] == 3 for r in report["repositories"].values())
    restored = _contents(_export(target))
    original = _contents(exported)
    restored["audit_logs"] = [e for e in restored["audit_logs"] if e["action"] == "user.create"]
    assert restored == original
    (workflow,) = [w for w in original["workflows"] if w["user_id"]][:1]
    assert workflow["settings"] == ODD


def test_dual_backfill_and_verify_read_memory_whole(make_storage):
    storage = make_storage("memory-only")
    _populate(storage)
    storage.switch("dual", reason="start the cut-over", actor="ops")
    report = Backfiller(storage).confirm(Options(batch_size=2), actor="ops")
    assert report["run"]["state"] == "completed"
    assert storage.verify()["differences"] == 0
    with storage.on_database() as database:
        in_database = {w.id: to_dict(w) for w in database.repository("workflows").iter_all()}
    in_memory = {w.id: to_dict(w) for w in storage.in_memory("workflows").iter_all()}
    assert in_memory == in_database
    # further memory-first writes keep both sides equal
    owner = storage.users.list().items[0]
    (workflow,) = storage.workflows.list(WorkflowQuery(user_id=owner.id)).items
    storage.workflows.update(dataclasses.replace(workflow, settings={"after": [1, {"b": 2}]}))
    assert storage.verify()["differences"] == 0


def test_stamps_tell_which_records_were_written_since_they_were_read(make_storage):
    storage = make_storage("memory-only")
    kept, changed, removed = (storage.users.add(make_user()) for _ in range(3))
    memory = storage.in_memory("users")
    absent = "a key no record has yet"
    found, stamps = memory.fetch_many_stamped([kept.id, changed.id, removed.id, absent])
    assert sorted(found) == sorted([kept.id, changed.id, removed.id])
    assert memory.changed_since(stamps) == []

    storage.users.update(dataclasses.replace(changed, name="changed"))
    storage.users.delete(removed.id)
    storage.users.add(make_user(id=absent))
    assert sorted(memory.changed_since(stamps)) == sorted([changed.id, removed.id, absent])


def test_a_stamped_copy_keeps_its_size_and_shares_nothing_with_memory(make_storage):
    storage = make_storage("memory-only")
    workflow = storage.workflows.add(make_workflow(storage.users.add(make_user())))
    found, _ = storage.in_memory("workflows").fetch_many_stamped([workflow.id])
    copy = found[workflow.id]
    assert copy.stored_bytes == content_bytes(workflow, WORKFLOW_CONTENT)
    copy.nodes.append({"id": "added", "type": "noop"})
    assert storage.workflows.get(workflow.id).nodes == workflow.nodes


SEARCH_NAMES = [
    "100% done",
    "a_b",
    "back\\slash",
    "Straße",
    "ΣΟΦΙΑ",
    "İstanbul",
    "plain",
    "ﬁle",
    "tab\there",
]
SEARCHES = [
    "%",
    "_",
    "\\",
    "100%",
    "a_b",
    "a%b",
    "strasse",
    "STRASSE",
    "σοφια",
    "i̇",
    "ﬁ",
    "fi",
    "\t",
    "\n",
    " ",
    "\\s",
    "e\nd",
]


def _search_results(storage, owner):
    return {
        s: sorted(
            w.name
            for w in storage.workflows.list(
                WorkflowQuery(user_id=owner.id, search=s, limit=100)
            ).items
        )
        for s in SEARCHES
    }


def test_memory_search_answers_as_the_database_does(make_storage):
    """Memory's search texts answer as SQL's escaped LIKE does
    for LIKE metacharacters, backslashes, case folding (ß/ss, Σ, İ, ligatures), tabs and
    newlines (the name/description separator)."""
    results = []
    for mode in ("memory-only", "database-only"):
        storage = make_storage(mode)
        owner = storage.users.add(make_user())
        for name in SEARCH_NAMES:
            storage.workflows.add(make_workflow(owner, name=name, description="end"))
        results.append(_search_results(storage, owner))
    assert results[0] == results[1]
