"""One behaviour suite for every repository, run through the adapter in every mode on real
SQLite and real PostgreSQL: the answers must be the same whatever the mode."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_api_key, make_user, make_version, make_workflow
from wfplatform.domain.audit import AuditEntry
from wfplatform.errors import Conflict, NotFound, ValidationFailed
from wfplatform.repositories.audit import AuditQuery
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.adapter import Storage

MODES = [
    pytest.param(("memory-only", None), id="memory-only"),
    pytest.param(("dual", "memory"), id="dual-read-memory"),
    pytest.param(("dual", "database"), id="dual-read-database"),
    pytest.param(("database-only", None), id="database-only"),
]


@pytest.fixture(params=MODES)
def storage(request, make_storage) -> Storage:
    mode, read_from = request.param
    return make_storage(mode, read_from=read_from)


def assert_backends_agree(storage: Storage) -> None:
    if storage.parts.modes.get("users").mode.value == "dual":
        assert storage.verify()["differences"] == 0


class TestUsers:
    def test_returns_what_was_added(self, storage):
        user = storage.users.add(make_user(email="Ada@Example.com"))
        assert storage.users.get(user.id) == user
        assert storage.users.get_by_email("ada@example.COM") == user

    def test_answers_none_for_an_unknown_key(self, storage):
        assert storage.users.get("no-such-id") is None
        assert storage.users.get_by_email("nobody@example.com") is None

    def test_hands_out_copies_that_cannot_change_storage(self, storage):
        user = storage.users.add(make_user())
        user.name = "changed by the caller"
        fetched = storage.users.get(user.id)
        assert fetched.name != "changed by the caller"

    def test_refuses_an_email_taken_in_another_case(self, storage):
        storage.users.add(make_user(email="grace@example.com"))
        with pytest.raises(Conflict):
            storage.users.add(make_user(email="GRACE@example.com"))
        assert storage.users.list().total == 1
        assert_backends_agree(storage)

    def test_refuses_a_duplicate_id(self, storage):
        user = storage.users.add(make_user())
        with pytest.raises(Conflict):
            storage.users.add(make_user(id=user.id))

    def test_updates_and_deletes(self, storage):
        user = storage.users.add(make_user())
        storage.users.update(dataclasses.replace(user, name="Renamed"))
        assert storage.users.get(user.id).name == "Renamed"
        storage.users.delete(user.id)
        assert storage.users.get(user.id) is None
        assert_backends_agree(storage)

    def test_answers_not_found_for_changes_to_unknown_records(self, storage):
        with pytest.raises(NotFound):
            storage.users.update(make_user())
        with pytest.raises(NotFound):
            storage.users.delete("no-such-id")

    def test_refuses_to_delete_a_user_who_owns_workflows(self, storage):
        user = storage.users.add(make_user())
        storage.workflows.add(make_workflow(user))
        with pytest.raises(Conflict):
            storage.users.delete(user.id)
        assert storage.users.get(user.id) is not None

    def test_refuses_values_longer_than_their_field(self, storage):
        with pytest.raises(ValidationFailed) as refused:
            storage.users.add(make_user(name="n" * 201, email=f"{'e' * 310}@example.com"))
        assert refused.value.details == {
            "name": "at most 200 characters",
            "email": "at most 320 characters",
        }
        user = storage.users.add(make_user(name="n" * 200))  # the limit itself fits
        with pytest.raises(ValidationFailed):
            storage.users.update(dataclasses.replace(user, name="n" * 201))
        assert storage.users.get(user.id) == user
        assert storage.users.list().total == 1
        assert_backends_agree(storage)

    def test_paginates_oldest_first(self, storage):
        users = [storage.users.add(make_user()) for _ in range(5)]
        page = storage.users.list(limit=2, offset=1)
        assert page.total == 5
        assert [u.id for u in page.items] == [u.id for u in users[1:3]]


class TestWorkflows:
    def test_refuses_a_workflow_of_an_unknown_user(self, storage):
        with pytest.raises(Conflict):
            storage.workflows.add(make_workflow(make_user()))
        assert storage.workflows.list(WorkflowQuery()).total == 0

    def test_keeps_json_documents_intact(self, storage):
        user = storage.users.add(make_user())
        workflow = make_workflow(
            user, settings={"nested": {"list": [1, 2.5, None, True], "text": "é✓"}}
        )
        storage.workflows.add(workflow)
        assert storage.workflows.get(workflow.id) == workflow

    def test_update_bumps_the_version_and_refuses_a_stale_one(self, storage):
        user = storage.users.add(make_user())
        workflow = storage.workflows.add(make_workflow(user))
        updated = storage.workflows.update(
            dataclasses.replace(workflow, name="v2"), expected_version=1
        )
        assert updated.version == 2
        assert storage.workflows.get(workflow.id) == updated
        with pytest.raises(Conflict) as refused:
            storage.workflows.update(dataclasses.replace(workflow, name="v3"), expected_version=1)
        assert refused.value.details == {"expected_version": 1, "current_version": 2}
        assert storage.workflows.get(workflow.id).name == "v2"
        assert_backends_agree(storage)

    def test_filters_like_the_api_promises(self, storage):
        ada, bob = storage.users.add(make_user()), storage.users.add(make_user())
        slack = storage.workflows.add(
            make_workflow(
                ada,
                name="Post to Slack",
                status="active",
                tags=["chat", "ops"],
                nodes=[{"type": "slack", "credential_type": "slack_token"}],
            )
        )
        mail = storage.workflows.add(
            make_workflow(
                ada,
                name="Mail digest",
                description="weekly SLACK summary",
                tags=["mail"],
                nodes=[{"type": "email"}],
            )
        )
        other = storage.workflows.add(make_workflow(bob, name="100% done_", tags=["ops"]))

        def ids(**filters) -> set[str]:
            return {w.id for w in storage.workflows.list(WorkflowQuery(**filters)).items}

        assert ids(user_id=ada.id) == {slack.id, mail.id}
        assert ids(status="active") == {slack.id}
        assert ids(tags=("ops", "mail")) == {slack.id, mail.id, other.id}
        assert ids(tags=("nothing",)) == set()
        assert ids(search="slack") == {slack.id, mail.id}
        assert ids(search="0% DONE_") == {other.id}
        assert ids(search="%") == {other.id}
        assert ids(node_type="slack") == {slack.id}
        assert ids(credential_type="slack_token") == {slack.id}
        assert ids(user_id=ada.id, tags=("ops",)) == {slack.id}

    def test_search_ignores_case_beyond_ascii(self, storage):
        user = storage.users.add(make_user())
        school = storage.workflows.add(make_workflow(user, name="ÉCOLE report"))
        street = storage.workflows.add(make_workflow(user, description="Hauptstraße import"))

        def ids(search: str) -> set[str]:
            return {w.id for w in storage.workflows.list(WorkflowQuery(search=search)).items}

        assert ids("école") == {school.id}
        assert ids("École REPORT") == {school.id}
        assert ids("HAUPTSTRASSE") == {street.id}  # full case folding: ß is ss
        assert ids("hauptstraße") == {street.id}

    def test_refuses_a_name_longer_than_its_field(self, storage):
        user = storage.users.add(make_user())
        with pytest.raises(ValidationFailed) as refused:
            storage.workflows.add(make_workflow(user, name="n" * 201))
        assert refused.value.details == {"name": "at most 200 characters"}
        workflow = storage.workflows.add(make_workflow(user, name="n" * 200))
        with pytest.raises(ValidationFailed):
            storage.workflows.update(dataclasses.replace(workflow, name="n" * 201))
        assert storage.workflows.get(workflow.id) == workflow
        assert storage.workflows.list(WorkflowQuery()).total == 1
        assert_backends_agree(storage)

    def test_orders_and_paginates(self, storage):
        user = storage.users.add(make_user())
        for name in ["b", "c", "a", "d"]:
            storage.workflows.add(make_workflow(user, name=name))
        page = storage.workflows.list(WorkflowQuery(order="name", limit=2, offset=1))
        assert page.total == 4
        assert [w.name for w in page.items] == ["b", "c"]
        descending = storage.workflows.list(WorkflowQuery(order="-name"))
        assert [w.name for w in descending.items] == ["d", "c", "b", "a"]


class TestWorkflowVersions:
    def test_numbers_are_unique_per_workflow(self, storage):
        user = storage.users.add(make_user())
        first, second = (storage.workflows.add(make_workflow(user)) for _ in range(2))
        storage.workflow_versions.add(make_version(first, 1))
        storage.workflow_versions.add(make_version(second, 1))
        with pytest.raises(Conflict):
            storage.workflow_versions.add(make_version(first, 1))
        assert storage.workflow_versions.get_number(first.id, 1).workflow_id == first.id
        assert storage.workflow_versions.get_number(first.id, 2) is None

    def test_lists_oldest_first_and_deletes_them_with_the_workflow(self, storage):
        user = storage.users.add(make_user())
        workflow = storage.workflows.add(make_workflow(user))
        for number in (2, 1, 3):
            storage.workflow_versions.add(make_version(workflow, number))
        assert [v.number for v in storage.workflow_versions.list_for(workflow.id)] == [1, 2, 3]

        def delete_workflow(uow) -> None:
            uow.workflow_versions.delete_for(workflow.id)
            uow.workflows.delete(workflow.id)

        storage.atomic(delete_workflow)
        assert storage.workflow_versions.list_for(workflow.id) == []
        assert storage.workflows.get(workflow.id) is None
        assert_backends_agree(storage)

    def test_pages_newest_first_and_knows_the_latest_number(self, storage):
        user = storage.users.add(make_user())
        workflow = storage.workflows.add(make_workflow(user))
        assert storage.workflow_versions.latest_number(workflow.id) == 0
        for number in (1, 3, 2):
            storage.workflow_versions.add(make_version(workflow, number))
        page = storage.workflow_versions.page_for(workflow.id, limit=2, offset=1)
        assert page.total == 3
        assert [v.number for v in page.items] == [2, 1]
        assert storage.workflow_versions.latest_number(workflow.id) == 3


class TestUsage:
    """The counting reads behind the quotas: the same figures from every backend."""

    def test_counts_and_measures_one_users_workflows_and_versions(self, storage):
        user, other = storage.users.add(make_user()), storage.users.add(make_user())
        workflows = [storage.workflows.add(make_workflow(user)) for _ in range(2)]
        storage.workflows.add(make_workflow(other))
        versions = [storage.workflow_versions.add(make_version(w, 1)) for w in workflows]
        versions.append(storage.workflow_versions.add(make_version(workflows[0], 2)))

        owned = storage.workflows.usage_of(user.id)
        history = storage.workflow_versions.usage_of(user.id)

        assert (owned.count, history.count) == (2, 3)
        assert owned.bytes == sum(w.stored_bytes for w in workflows)
        assert history.bytes == sum(v.stored_bytes for v in versions)
        nobody = storage.workflows.usage_of(make_user().id)
        assert (nobody.count, nobody.bytes) == (0, 0)

    def test_counts_what_a_unit_of_work_wrote_before_it_commits(self, storage):
        user = storage.users.add(make_user())

        def create(uow):
            workflow = uow.workflows.add(make_workflow(user))
            uow.workflow_versions.add(make_version(workflow, 1))
            return uow.workflows.usage_of(user.id), uow.workflow_versions.usage_of(user.id)

        owned, history = storage.atomic(create)
        assert (owned.count, history.count) == (1, 1)


class TestUnitsOfWork:
    def test_commits_several_records_together(self, storage):
        user = make_user()

        def create(uow):
            uow.users.add(user)
            workflow = uow.workflows.add(make_workflow(user))
            uow.workflow_versions.add(make_version(workflow, 1))
            return workflow

        workflow = storage.atomic(create)
        assert storage.workflow_versions.get_number(workflow.id, 1) is not None
        assert_backends_agree(storage)

    def test_reads_its_own_writes_before_commit(self, storage):
        user = make_user()

        def create(uow):
            uow.users.add(user)
            return uow.users.get_by_email(user.email)

        assert storage.atomic(create) == user

    def test_applies_nothing_when_it_fails(self, storage):
        existing = storage.users.add(make_user(email="taken@example.com"))
        newcomer = make_user()

        def create(uow):
            uow.users.add(newcomer)
            uow.workflows.add(make_workflow(newcomer))
            uow.users.add(make_user(email=existing.email))

        with pytest.raises(Conflict):
            storage.atomic(create)
        assert storage.users.get(newcomer.id) is None
        assert storage.workflows.list(WorkflowQuery()).total == 0
        assert_backends_agree(storage)

    def test_a_caught_conflict_keeps_the_earlier_writes(self, storage):
        taken = storage.users.add(make_user())
        first = make_user()

        def add_unless_taken(uow):
            uow.users.add(first)
            try:
                uow.users.add(make_user(email=taken.email))
            except Conflict:
                pass  # "add it if the email is free": an answer, not a failure

        storage.atomic(add_unless_taken)
        assert_backends_agree(storage)  # first: a read would lazily copy a lost write back
        assert storage.users.get(first.id) == first
        assert storage.users.list().total == 2

    def test_applies_nothing_when_the_caller_raises(self, storage):
        user = make_user()

        def create(uow):
            uow.users.add(user)
            raise RuntimeError("changed my mind")

        with pytest.raises(RuntimeError):
            storage.atomic(create)
        assert storage.users.get(user.id) is None

    def test_frees_and_reuses_a_unique_email_in_one_unit_of_work(self, storage):
        leaving = storage.users.add(make_user(email="shared@example.com"))
        arriving = make_user(email="SHARED@example.com")

        def hand_over(uow):
            uow.users.delete(leaving.id)
            uow.users.add(arriving)

        storage.atomic(hand_over)
        assert storage.users.get_by_email("shared@example.com") == arriving
        assert_backends_agree(storage)


class TestApiKeys:
    def test_found_by_hash_and_listed_per_user_oldest_first(self, storage):
        user = storage.users.add(make_user())
        first = storage.api_keys.add(make_api_key(user))
        second = storage.api_keys.add(make_api_key(user))
        assert storage.api_keys.get_by_hash(second.key_hash) == second
        assert storage.api_keys.get_by_hash("0" * 64) is None
        assert [k.id for k in storage.api_keys.list_for(user.id)] == [first.id, second.id]

    def test_a_hash_is_unique_and_a_key_needs_its_user(self, storage):
        user = storage.users.add(make_user())
        key = storage.api_keys.add(make_api_key(user))
        with pytest.raises(Conflict):
            storage.api_keys.add(make_api_key(user, key_hash=key.key_hash))
        with pytest.raises(Conflict):
            storage.api_keys.add(make_api_key(make_user()))
        with pytest.raises(Conflict):
            storage.users.delete(user.id)


class TestAuditLogs:
    def test_lists_newest_first_with_every_filter(self, storage):
        base = datetime(2026, 1, 1, tzinfo=UTC)
        entries = [
            storage.audit_logs.add(
                AuditEntry(
                    action=action,
                    resource_type="workflow",
                    resource_id=f"w{n}",
                    actor_id=actor,
                    changes={"name": {"from": "a", "to": "b"}},
                    created_at=base + timedelta(minutes=n),
                )
            )
            for n, (action, actor) in enumerate(
                [("workflow.create", "u1"), ("workflow.update", "u1"), ("workflow.create", "u2")]
            )
        ]

        def ids(**filters) -> list[str]:
            return [e.id for e in storage.audit_logs.list(AuditQuery(**filters)).items]

        assert ids() == [e.id for e in reversed(entries)]
        assert ids(action="workflow.create") == [entries[2].id, entries[0].id]
        assert ids(actor_id="u1", resource_id="w1") == [entries[1].id]
        assert ids(since=base + timedelta(minutes=1), until=base + timedelta(minutes=2)) == [
            entries[1].id
        ]
        page = storage.audit_logs.list(AuditQuery(limit=1, offset=1))
        assert (page.total, [e.id for e in page.items]) == (3, [entries[1].id])
