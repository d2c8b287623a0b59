"""A hostile export document: every record the API would refuse is reported (which record,
which field, why) and never written, the rest of the run goes on, and what was imported
keeps every read and the backfill working."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from tests.factories import make_api_key, make_user, make_version, make_workflow
from tests.integration.test_backup import MODES, document
from wfplatform.backup import ExportFormatError, ImportRefused, import_export
from wfplatform.domain.audit import AuditEntry
from wfplatform.domain.codec import to_dict
from wfplatform.repositories.workflows import WorkflowQuery


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def hostile_records(owner, good) -> dict[str, dict]:
    """One record per attack, by what it attacks; each belongs to `owner` or `good`."""
    return {
        "string node": {**to_dict(make_workflow(owner)), "nodes": ["evil"], "edges": []},
        "bad workflow id": {**to_dict(make_workflow(owner)), "id": "not-a-uuid"},
        "deep settings": {**to_dict(make_workflow(owner)), "settings": deep(40)},
        "edge to nowhere": {**to_dict(make_workflow(owner)), "edges": [{"from": "a", "to": "z"}]},
        "duplicate node ids": {
            **to_dict(make_workflow(owner)),
            "nodes": [{"id": "a", "type": "webhook"}, {"id": "a", "type": "code"}],
            "edges": [],
        },
        "long description": {**to_dict(make_workflow(owner)), "description": "x" * 10_001},
        "bad status": {**to_dict(make_workflow(owner)), "status": "running"},
        "string version node": {**to_dict(make_version(good, 2)), "nodes": [7]},
        "bad email": to_dict(make_user(email="not an email")),
        "long key prefix": to_dict(make_api_key(owner, prefix="p" * 17)),
        "long audit action": to_dict(AuditEntry("a" * 65, "user", owner.id, owner.id)),
        "bad audit actor": to_dict(AuditEntry("user.create", "user", owner.id, "robert')")),
    }


EXPECTED_FIELD = {
    "string node": "nodes",
    "bad workflow id": "id",
    "deep settings": "settings",
    "edge to nowhere": "edges",
    "duplicate node ids": "nodes",
    "long description": "description",
    "bad status": "status",
    "string version node": "nodes",
    "bad email": "email",
    "long key prefix": "prefix",
    "long audit action": "action",
    "bad audit actor": "actor_id",
}
REPOSITORY = {
    "string version node": "workflow_versions",
    "bad email": "users",
    "long key prefix": "api_keys",
    "long audit action": "audit_logs",
    "bad audit actor": "audit_logs",
}


def hostile_document(owner, good_workflow, attacks: dict[str, dict]) -> io.StringIO:
    by_repository: dict[str, list] = {"users": [owner], "workflows": [good_workflow]}
    by_repository["workflow_versions"] = [make_version(good_workflow, 1)]
    for attack, record in attacks.items():
        by_repository.setdefault(REPOSITORY.get(attack, "workflows"), []).append(record)
    return document(**by_repository)


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_every_hostile_record_is_reported_and_none_is_written(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    owner = make_user()
    good = make_workflow(owner)
    attacks = hostile_records(owner, good)
    source = hostile_document(owner, good, attacks)

    with pytest.raises(ImportRefused) as refused:
        import_export(storage, source)
    report = refused.value.details
    assert report["problems"] == len(attacks)
    found = {
        (name, sample["id"]): sample["problems"]
        for name, repository in report["repositories"].items()
        for sample in repository["samples"]
    }
    for attack, record in attacks.items():
        problems = found[(REPOSITORY.get(attack, "workflows"), record["id"])]
        assert EXPECTED_FIELD[attack] in problems, (attack, problems)
    assert storage.users.get(owner.id) is None  # refused as a whole

    forced = import_export(storage, source, force=True)
    assert forced["repositories"]["workflows"]["written"]["inserted"] == 1
    for node_type in ("webhook", "evil"):  # the string node would have made this a 500
        page = storage.workflows.list(WorkflowQuery(user_id=owner.id, node_type=node_type))
        assert [workflow.id for workflow in page.items] == (
            [good.id] if node_type == "webhook" else []
        )
    if mode == "dual":
        assert storage.verify()["differences"] == 0


def test_a_record_nested_past_the_parser_is_a_clear_refusal(make_storage):
    storage = make_storage("memory-only")
    owner = make_user()
    record = {**to_dict(make_workflow(owner)), "settings": {"x": 1}}
    text = document(users=[owner], workflows=[record]).getvalue()
    text = text.replace('{"x": 1}', "[" * 100_000 + "]" * 100_000)

    with pytest.raises(ExportFormatError, match="nests too deeply"):
        import_export(storage, io.StringIO(text))
    assert storage.users.get(owner.id) is None


def test_ids_that_are_not_uuids_are_invalid_wherever_they_are(make_storage):
    storage = make_storage("memory-only")
    owner = make_user(id="1")
    key = make_api_key(make_user(), user_id="' OR 1=1 --")
    with pytest.raises(ImportRefused) as refused:
        import_export(storage, document(users=[owner], api_keys=[key]))
    repositories = refused.value.details["repositories"]
    assert "id" in repositories["users"]["samples"][0]["problems"]
    assert "user_id" in repositories["api_keys"]["samples"][0]["problems"]


def test_an_import_that_is_valid_by_the_api_rules_goes_through(make_storage):
    storage = make_storage("database-only")
    owner = make_user()
    workflow = make_workflow(owner, settings=deep(30))
    report = import_export(
        storage,
        document(
            users=[owner], workflows=[workflow], workflow_versions=[make_version(workflow, 1)]
        ),
    )
    assert report["problems"] == 0
    assert storage.workflows.get(workflow.id) == workflow
    assert uuid.UUID(workflow.id)
    assert json.dumps(report)  # the report is plain JSON
