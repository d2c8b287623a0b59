"""A stateful property test: random creates, updates, deletes, queries and mode switches
(walking the allowed steps of the cut-over) against a plain reference model. Every read
equals the model; in dual, a complete verify after every step finds no difference."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from tests.conftest import build_storage
from tests.databases import empty_all_tables
from tests.factories import make_user, make_workflow
from tests.sync import mirror_memory_to_database
from wfplatform.errors import Conflict, NotFound
from wfplatform.extensions import db
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.modes import STEPS, Mode

emails = st.sampled_from(["ada", "bob", "cy", "Ada", "BOB"]).map(lambda n: f"{n}@example.com")
names = st.sampled_from(["alpha", "Beta", "gamma", "delta"])
tags = st.lists(st.sampled_from(["ops", "chat", "mail"]), max_size=2, unique=True)
statuses = st.sampled_from(["draft", "active", "archived"])


class AdapterAgainstModel(RuleBasedStateMachine):
    engine: Engine
    journal_dir: Path

    def __init__(self) -> None:
        super().__init__()
        empty_all_tables(self.engine, db.metadata)
        journal = self.journal_dir / f"journal-{uuid.uuid4().hex}.log"
        self.storage = build_storage(self.engine, journal, "memory-only")
        self.users: dict = {}
        self.workflows: dict = {}

    def teardown(self) -> None:
        self.storage.close()

    # -- writes --------------------------------------------------------------------------
    @rule(email=emails, name=names)
    def create_user(self, email, name):
        user = make_user(email=email, name=name)
        if any(u.email_key == user.email_key for u in self.users.values()):
            with pytest.raises(Conflict):
                self.storage.users.add(user)
        else:
            self.users[user.id] = self.storage.users.add(user)

    @precondition(lambda self: self.users)
    @rule(data=st.data(), email=emails)
    def change_email(self, data, email):
        user = self.users[data.draw(st.sampled_from(list(self.users)))]
        changed = dataclasses.replace(user, email=email)
        taken = any(
            u.email_key == changed.email_key and u.id != user.id for u in self.users.values()
        )
        if taken:
            with pytest.raises(Conflict):
                self.storage.users.update(changed)
        else:
            self.users[user.id] = self.storage.users.update(changed)

    @precondition(lambda self: self.users)
    @rule(data=st.data())
    def delete_user(self, data):
        user_id = data.draw(st.sampled_from(list(self.users)))
        if any(w.user_id == user_id for w in self.workflows.values()):
            with pytest.raises(Conflict):
                self.storage.users.delete(user_id)
        else:
            self.storage.users.delete(user_id)
            del self.users[user_id]

    @precondition(lambda self: self.users)
    @rule(data=st.data(), name=names, tags=tags, status=statuses)
    def create_workflow(self, data, name, tags, status):
        owner = self.users[data.draw(st.sampled_from(list(self.users)))]
        workflow = make_workflow(owner, name=name, tags=tags, status=status)
        self.workflows[workflow.id] = self.storage.workflows.add(workflow)

    @precondition(lambda self: self.workflows)
    @rule(data=st.data(), name=names, stale=st.booleans())
    def update_workflow(self, data, name, stale):
        workflow = self.workflows[data.draw(st.sampled_from(list(self.workflows)))]
        expected = workflow.version - 1 if stale else workflow.version
        changed = dataclasses.replace(workflow, name=name)
        if stale:
            with pytest.raises(Conflict):
                self.storage.workflows.update(changed, expected_version=expected)
        else:
            stored = self.storage.workflows.update(changed, expected_version=expected)
            self.workflows[workflow.id] = stored

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def delete_workflow(self, data):
        workflow_id = data.draw(st.sampled_from(list(self.workflows)))
        self.storage.workflows.delete(workflow_id)
        del self.workflows[workflow_id]
        with pytest.raises(NotFound):
            self.storage.workflows.delete(workflow_id)

    # -- mode switches, one step at a time -------------------------------------------------
    @rule(forward=st.booleans())
    def switch_mode(self, forward):
        current = self.storage.parts.modes.get("users").step
        target = current + (1 if forward else -1)
        if not 0 <= target < len(STEPS):
            return
        mode, read_from = STEPS[target]
        if current == 0:
            mirror_memory_to_database(self.storage)  # the backfill, before dual
        if target == 1 and current == 2:
            for name in self.storage.parts.bindings:
                self.storage.load_memory(name)
        if target == 2 and current == 3:
            for name in self.storage.parts.bindings:
                self.storage.load_memory(name)
        self.storage.switch(mode.value, read_from=read_from, reason="model", actor="test")
        event(f"reached {self.storage.parts.modes.get('users').label()}")

    # -- reads ---------------------------------------------------------------------------
    @rule(tag=st.sampled_from(["ops", "chat", "mail"]), status=statuses)
    def query_workflows(self, tag, status):
        page = self.storage.workflows.list(WorkflowQuery(tags=(tag,), order="name"))
        expected = [w for w in self.workflows.values() if tag in w.tags]
        assert page.total == len(expected)
        assert {w.id for w in page.items} == {w.id for w in expected}
        by_status = self.storage.workflows.list(WorkflowQuery(status=status))
        assert by_status.total == sum(w.status == status for w in self.workflows.values())

    @invariant()
    def reads_equal_the_model(self):
        storage = self.storage
        assert storage.users.list(limit=1000).total == len(self.users)
        for user in self.users.values():
            assert storage.users.get(user.id) == user
            assert storage.users.get_by_email(user.email.upper()) == user
        listed = storage.workflows.list(WorkflowQuery(limit=1000)).items
        assert {w.id: w for w in listed} == self.workflows

    @invariant()
    def dual_has_no_differences(self):
        if self.storage.parts.modes.get("users").mode is Mode.DUAL:
            report = self.storage.verify()
            assert report["differences"] == 0, report


def test_adapter_behaves_like_the_reference_model(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(AdapterAgainstModel, "engine", engine, raising=False)
    monkeypatch.setattr(AdapterAgainstModel, "journal_dir", tmp_path, raising=False)
    run_state_machine_as_test(
        AdapterAgainstModel,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
