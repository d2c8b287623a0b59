"""One behaviour suite for every repository, run through the adapter in every mode on real
SQLite and real PostgreSQL: the answers must be the same whatever the mode. What every
repository shares is in `tests.integration.contract`; each class here makes its records
and adds its own queries."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

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
from tests.integration.contract import (
    ChildContract,
    Contract,
    LengthContract,
    PagingContract,
    ParentContract,
    UniqueContract,
    assert_backends_agree,
)
from wfplatform.domain.audit import AuditEntry
from wfplatform.errors import Conflict
from wfplatform.repositories import NAMES
from wfplatform.repositories.audit import AuditQuery
from wfplatform.repositories.credentials import CredentialQuery
from wfplatform.repositories.executions import ExecutionQuery
from wfplatform.repositories.workflows import WorkflowQuery


def test_every_repository_runs_the_contract():
    assert set(Contract.by_name) == set(NAMES)


class TestUsers(ParentContract, UniqueContract, LengthContract, PagingContract):
    name = "users"
    too_long = {
        "name": ("n" * 201, "at most 200 characters"),
        "email": (f"{'e' * 310}@example.com", "at most 320 characters"),
    }
    at_the_limit = {"name": "n" * 200}

    def make(self, storage, **overrides):
        return make_user(**overrides)

    def holding_the_same(self, storage, record, key):
        return make_user(email=record.email.upper())  # emails are unique in any case

    def several(self, storage, count):
        return [storage.users.add(make_user()) for _ in range(count)]  # oldest first

    def listed(self, storage, records, limit, offset):
        return storage.users.list(limit=limit, offset=offset)

    def test_is_found_by_email_in_any_case(self, storage):
        user = storage.users.add(make_user(email="Ada@Example.com"))
        assert storage.users.get_by_email("ada@example.COM") == user
        assert storage.users.get_by_email("nobody@example.com") is None


class TestWorkflows(ParentContract, ChildContract, LengthContract):
    name = "workflows"
    too_long = {"name": ("n" * 201, "at most 200 characters")}
    at_the_limit = {"name": "n" * 200}

    def make(self, storage, **overrides):
        return make_workflow(storage.users.add(make_user()), **overrides)

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

    def test_orders_and_paginates(self, storage):
        user = storage.users.add(make_user())
        for name in ["b", "c", "a", "d"]:
            storage.workflows.add(make_workflow(user, name=name))
        page = storage.workflows.list(WorkflowQuery(order="name", limit=2, offset=1))
        assert page.total == 4
        assert [w.name for w in page.items] == ["b", "c"]
        descending = storage.workflows.list(WorkflowQuery(order="-name"))
        assert [w.name for w in descending.items] == ["d", "c", "b", "a"]


class TestWorkflowVersions(UniqueContract, ChildContract, PagingContract):
    name = "workflow_versions"

    def make(self, storage, **overrides):
        workflow = storage.workflows.add(make_workflow(storage.users.add(make_user())))
        return make_version(workflow, 1, **overrides)

    def several(self, storage, count):
        workflow = storage.workflows.add(make_workflow(storage.users.add(make_user())))
        added = [
            storage.workflow_versions.add(make_version(workflow, number))
            for number in (2, 1, 3, 5, 4)[:count]
        ]
        return sorted(added, key=lambda version: version.number, reverse=True)  # newest first

    def listed(self, storage, records, limit, offset):
        return storage.workflow_versions.page_for(records[0].workflow_id, limit, offset)

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

    def test_knows_the_latest_number(self, storage):
        user = storage.users.add(make_user())
        workflow = storage.workflows.add(make_workflow(user))
        assert storage.workflow_versions.latest_number(workflow.id) == 0
        for number in (1, 3, 2):
            storage.workflow_versions.add(make_version(workflow, number))
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

    def test_measures_content_beyond_ascii_and_updates_alike_in_every_backend(self, storage):
        """PostgreSQL's JSONB text writes "é" where `json.dumps` writes "\\u00e9": sizes
        are the service's own, so every backend gives the same figure."""
        user = storage.users.add(make_user())
        workflow = storage.workflows.add(
            make_workflow(user, nodes=[{"id": "é", "type": "set", "parameters": {"k": "ü"}}])
        )
        changed = storage.workflows.update(
            dataclasses.replace(workflow, description="ünïcode " * 10, version=workflow.version + 1)
        )

        assert storage.workflows.usage_of(user.id).bytes == changed.stored_bytes

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


class TestApiKeys(UniqueContract, ChildContract):
    name = "api_keys"

    def make(self, storage, **overrides):
        return make_api_key(storage.users.add(make_user()), **overrides)

    def test_found_by_hash_and_listed_per_user_oldest_first(self, storage):
        user = storage.users.add(make_user())
        first = storage.api_keys.add(make_api_key(user))
        second = storage.api_keys.add(make_api_key(user))
        assert storage.api_keys.get_by_hash(second.key_hash) == second
        assert storage.api_keys.get_by_hash("0" * 64) is None
        assert [k.id for k in storage.api_keys.list_for(user.id)] == [first.id, second.id]


class TestCredentials(ChildContract, LengthContract, PagingContract):
    name = "credentials"
    too_long = {"name": ("n" * 201, "at most 200 characters")}
    at_the_limit = {"name": "n" * 200}

    def make(self, storage, **overrides):
        return make_credential(storage.users.add(make_user()), **overrides)

    def changed(self, record):
        return dataclasses.replace(record, name="Renamed", version=record.version + 1)

    def several(self, storage, count):
        owner = storage.users.add(make_user())
        return [
            storage.credentials.add(make_credential(owner, name=f"credential {n}"))
            for n in range(count)
        ]  # by name

    def listed(self, storage, records, limit, offset):
        query = CredentialQuery(user_id=records[0].user_id, limit=limit, offset=offset)
        return storage.credentials.list(query)

    def test_lists_by_owner_and_type_by_name_in_code_point_order(self, storage):
        ada, bob = storage.users.add(make_user()), storage.users.add(make_user())
        names = ["b", "B", "a", "é", "Z"]
        made = {n: storage.credentials.add(make_credential(ada, name=n)) for n in names}
        slack = storage.credentials.add(make_credential(ada, name="slack", type="slackApi"))
        storage.credentials.add(make_credential(bob, name="bob's"))

        def names_of(**filters) -> list[str]:
            return [c.name for c in storage.credentials.list(CredentialQuery(**filters)).items]

        assert names_of(user_id=ada.id, type="httpBasicAuth") == sorted(names)
        assert names_of(user_id=ada.id, type="slackApi") == ["slack"]
        assert names_of(type="slackApi") == ["slack"]
        assert len(names_of()) == 7
        assert storage.credentials.get(slack.id) == slack
        assert storage.credentials.get(made["é"].id).name == "é"

    def test_an_update_from_a_stale_version_is_refused(self, storage):
        record = self.add(storage)
        storage.credentials.update(self.changed(record))
        with pytest.raises(Conflict):
            storage.credentials.update(dataclasses.replace(record, name="stale", version=2))
        assert storage.credentials.get(record.id).name == "Renamed"
        assert_backends_agree(storage)


class TestExecutions(ParentContract, UniqueContract, ChildContract, LengthContract, PagingContract):
    name = "executions"
    mutable = "runner"
    too_long = {"runner": ("r" * 201, "at most 200 characters")}
    at_the_limit = {"runner": "r" * 200}
    slots = itertools.count()

    def make(self, storage, **overrides):
        """A running retry holding slots (no two records hold one of its unique values)."""
        slots = {
            "workflow_slot": 0,
            "global_slot": next(self.slots),
            "status": "running",
            "retry_of": str(uuid.uuid4()),
        }
        return make_execution(storage.users.add(make_user()), **{**slots, **overrides})

    def changed(self, record):
        return dataclasses.replace(record, status="success", version=record.version + 1)

    def several(self, storage, count):
        owner = storage.users.add(make_user())
        start = datetime(2026, 1, 1, tzinfo=UTC)
        made = [
            storage.executions.add(make_execution(owner, created_at=start + timedelta(minutes=n)))
            for n in range(count)
        ]
        return made[::-1]  # newest first

    def listed(self, storage, records, limit, offset):
        query = ExecutionQuery(user_id=records[0].user_id, limit=limit, offset=offset)
        return storage.executions.list(query)

    def test_lists_newest_first_with_every_filter(self, storage):
        ada, bob = storage.users.add(make_user()), storage.users.add(make_user())
        start = datetime(2026, 1, 1, tzinfo=UTC)
        flow = str(uuid.uuid4())
        made = [
            storage.executions.add(
                make_execution(
                    owner,
                    workflow_id=flow if n < 3 else str(uuid.uuid4()),
                    status=status,
                    created_at=start + timedelta(minutes=n),
                )
            )
            for n, (owner, status) in enumerate(
                [(ada, "success"), (ada, "failed"), (bob, "success"), (ada, "queued")]
            )
        ]

        def ids(**filters) -> list[int]:
            found = storage.executions.list(ExecutionQuery(**filters)).items
            return [made.index(next(m for m in made if m.id == e.id)) for e in found]

        assert ids() == [3, 2, 1, 0]
        assert ids(user_id=ada.id) == [3, 1, 0]
        assert ids(workflow_id=flow, status="success") == [2, 0]
        assert ids(user_id=ada.id, since=start + timedelta(minutes=1)) == [3, 1]
        assert ids(since=start, until=start + timedelta(minutes=2)) == [1, 0]
        page = storage.executions.list(ExecutionQuery(user_id=ada.id, limit=1, offset=1))
        assert (page.total, ids(user_id=ada.id, limit=1, offset=1)) == (3, [1])

    def test_a_slot_is_held_by_one_running_execution_and_empty_slots_never_clash(self, storage):
        owner = storage.users.add(make_user())
        flow = str(uuid.uuid4())
        storage.executions.add(make_execution(owner, workflow_id=flow))
        storage.executions.add(make_execution(owner, workflow_id=flow))  # neither holds one
        holder = storage.executions.add(
            make_execution(owner, workflow_id=flow, status="running", workflow_slot=0)
        )
        with pytest.raises(Conflict):
            storage.executions.add(
                make_execution(owner, workflow_id=flow, status="running", workflow_slot=0)
            )
        storage.executions.update(
            dataclasses.replace(holder, status="success", workflow_slot=None, version=2)
        )
        storage.executions.add(
            make_execution(owner, workflow_id=flow, status="running", workflow_slot=0)
        )
        assert len(storage.executions.running(flow)) == 1
        assert_backends_agree(storage)

    def test_finds_the_queued_the_running_and_the_expired_leases(self, storage):
        owner = storage.users.add(make_user())
        now = datetime.now(UTC)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        queued = [
            storage.executions.add(make_execution(owner, created_at=start + timedelta(minutes=n)))
            for n in (2, 1)
        ]
        live, expired = (
            storage.executions.add(
                make_execution(owner, status="running", lease_expires_at=now + offset)
            )
            for offset in (timedelta(seconds=30), timedelta(seconds=-1))
        )
        assert [e.id for e in storage.executions.queued(limit=5)] == [queued[1].id, queued[0].id]
        assert [e.id for e in storage.executions.queued(limit=1)] == [queued[1].id]
        assert {e.id for e in storage.executions.running()} == {live.id, expired.id}
        assert [e.id for e in storage.executions.lease_expired(now, limit=5)] == [expired.id]

    def test_an_update_from_a_stale_version_is_refused(self, storage):
        record = self.add(storage)
        storage.executions.update(self.changed(record))
        with pytest.raises(Conflict):
            storage.executions.update(dataclasses.replace(record, status="failed", version=2))
        assert storage.executions.get(record.id).status == "success"
        assert_backends_agree(storage)


class TestNodeExecutions(ChildContract, LengthContract):
    name = "node_executions"
    mutable = "node_id"
    too_long = {
        "node_id": ("n" * 101, "at most 100 characters"),
        "node_type": ("t" * 201, "at most 200 characters"),
    }
    at_the_limit = {"node_id": "n" * 100, "node_type": "t" * 200}

    def make(self, storage, **overrides):
        owner = storage.users.add(make_user())
        return make_node_execution(storage.executions.add(make_execution(owner)), **overrides)

    def changed(self, record):
        return dataclasses.replace(
            record, status="success", output=[[{"done": True}]], version=record.version + 1
        )

    def test_lists_one_executions_nodes_in_the_order_they_started(self, storage):
        owner = storage.users.add(make_user())
        execution, other = (storage.executions.add(make_execution(owner)) for _ in range(2))
        made = [
            storage.node_executions.add(make_node_execution(execution, start_seq=seq))
            for seq in (4, 2, 6)
        ]
        storage.node_executions.add(make_node_execution(other))
        found = storage.node_executions.for_execution(execution.id)
        assert [n.start_seq for n in found] == [2, 4, 6]
        assert found[0] == made[1]


def entry(n: int, action: str = "workflow.create", actor: str = "u1") -> AuditEntry:
    return AuditEntry(
        action=action,
        resource_type="workflow",
        resource_id=f"w{n}",
        actor_id=actor,
        changes={"name": {"from": "a", "to": "b"}},
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
    )


class TestAuditLogs(PagingContract):
    name = "audit_logs"
    mutable = "action"

    def make(self, storage, **overrides):
        return dataclasses.replace(entry(0), **overrides)

    def several(self, storage, count):
        entries = [storage.audit_logs.add(entry(n)) for n in range(count)]
        return entries[::-1]  # newest first

    def listed(self, storage, records, limit, offset):
        return storage.audit_logs.list(AuditQuery(limit=limit, offset=offset))

    def test_lists_newest_first_with_every_filter(self, storage):
        base = datetime(2026, 1, 1, tzinfo=UTC)
        entries = [
            storage.audit_logs.add(entry(n, action, actor))
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
