"""Memory's workflow lists answer from indexes and ordered walks; whatever the filters,
order, page and staged changes, the answer is the one a scan and a full sort give."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_user, make_workflow
from wfplatform.backends.memory import MemoryStore
from wfplatform.domain.codec import copy_record
from wfplatform.repositories import REPOSITORIES
from wfplatform.repositories.users import MemoryUserRepository
from wfplatform.repositories.workflows import MemoryWorkflowRepository, WorkflowQuery

STATUSES = ("draft", "active", "archived")
TAGS = ("red", "green", "blue", "grey")
TYPES = ("set", "if", "http_request", "wait")
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _store() -> tuple[MemoryStore, list]:
    store = MemoryStore()
    for binding in REPOSITORIES:
        binding.memory.create_table(store)
    owners = [make_user(), make_user()]
    for owner in owners:
        MemoryUserRepository(store).add(owner)
    chance = random.Random(7)
    repository = MemoryWorkflowRepository(store)
    for n in range(300):
        node_type = chance.choice(TYPES)
        stamp = BASE + timedelta(minutes=chance.randrange(40))  # many ties
        repository.add(
            make_workflow(
                chance.choice(owners),
                name=f"Workflow {n:03} {chance.choice(['alpha', 'Beta', 'gamma'])}",
                status=chance.choice(STATUSES),
                tags=chance.sample(TAGS, chance.randrange(3)),
                nodes=[{"id": "a", "type": node_type, "credentials": {f"{node_type}Api": {}}}],
                edges=[],
                created_at=stamp,
                updated_at=stamp + timedelta(minutes=chance.randrange(3)),
            )
        )
    return store, owners


STORE, OWNERS = _store()


def stored(tables) -> list:
    """The workflows a store holds, whole (a table keeps its records' JSON pickled)."""
    return [copy_record(record) for record in tables["workflows"].records.values()]


def reference(records, query: WorkflowQuery) -> tuple[list[str], int]:
    """What a scan and a full sort answer."""

    def matches(workflow) -> bool:
        return (
            (query.user_id is None or workflow.user_id == query.user_id)
            and (not query.status or workflow.status == query.status)
            and (not query.tags or bool(set(query.tags) & set(workflow.tags)))
            and (not query.node_type or query.node_type in workflow.node_types)
            and (
                not query.credential_type
                or query.credential_type in workflow.required_credential_types
            )
            and (not query.search or query.search.casefold() in workflow.search_text)
        )

    found = sorted(
        (w for w in records if matches(w)),
        key=lambda w: (getattr(w, query.order_field), w.id),
        reverse=query.descending,
    )
    return [w.id for w in found[query.offset : query.offset + query.limit]], len(found)


queries = st.builds(
    WorkflowQuery,
    user_id=st.sampled_from([None, *(owner.id for owner in OWNERS)]),
    status=st.sampled_from([None, *STATUSES]),
    tags=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
    search=st.sampled_from([None, "beta", "workflow 1", "nothing like it"]),
    node_type=st.sampled_from([None, *TYPES]),
    credential_type=st.sampled_from([None, "setApi", "waitApi"]),
    order=st.sampled_from(["-updated_at", "updated_at", "-created_at", "created_at", "name"]),
    limit=st.sampled_from([1, 5, 50, 400]),
    offset=st.sampled_from([0, 3, 120, 500]),
)


@settings(max_examples=300, deadline=None)
@given(query=queries)
def test_a_list_is_what_a_scan_and_a_sort_answer(query: WorkflowQuery) -> None:
    page = MemoryWorkflowRepository(STORE).list(query)
    assert ([w.id for w in page.items], page.total) == reference(stored(STORE.tables), query)


@settings(max_examples=100, deadline=None)
@given(query=queries, seed=st.integers(0, 1000))
def test_a_list_inside_a_unit_of_work_sees_its_staged_changes(query, seed) -> None:
    chance = random.Random(seed)
    transaction = STORE.begin()
    repository = MemoryWorkflowRepository(STORE, transaction)
    for workflow in chance.sample(stored(STORE.tables), 5):
        later = workflow.updated_at + timedelta(hours=1)
        repository.upsert(dataclasses.replace(workflow, status="active", updated_at=later))
    repository.add(make_workflow(OWNERS[0], tags=["red"], updated_at=BASE, created_at=BASE))
    staged = {**STORE.tables["workflows"].records, **transaction.overlays["workflows"]}
    page = repository.list(query)
    expected = reference([copy_record(record) for record in staged.values()], query)
    assert ([w.id for w in page.items], page.total) == expected


def test_records_handed_out_are_copies() -> None:
    page = MemoryWorkflowRepository(STORE).list(WorkflowQuery(limit=1))
    page.items[0].tags.append("changed")
    again = MemoryWorkflowRepository(STORE).list(WorkflowQuery(limit=1))
    assert "changed" not in again.items[0].tags


@pytest.mark.parametrize("order", ["updated_at", "-updated_at"])
def test_an_updated_or_removed_record_leaves_its_old_place_in_the_order(order) -> None:
    store, owners = _store()
    repository = MemoryWorkflowRepository(store)
    first = repository.list(WorkflowQuery(order=order, limit=1)).items[0]
    repository.upsert(dataclasses.replace(first, updated_at=BASE + timedelta(days=9)))
    moved = repository.list(WorkflowQuery(order=order, limit=400)).items
    assert [w.id for w in moved].count(first.id) == 1
    repository.discard(moved[0].id)
    assert moved[0].id not in [w.id for w in repository.list(WorkflowQuery(limit=400)).items]
