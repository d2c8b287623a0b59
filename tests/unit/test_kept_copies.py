"""What memory keeps of a record: its JSON pickled into one bytes object (a large memory
table would otherwise hold a dict per node of every workflow), its scalars and cached
properties readable as they are, and the whole record back, sharing nothing, through
`copy_record`."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest

from tests.factories import make_user, make_workflow
from wfplatform.domain.codec import PACKED, copy_record, kept_copy


def test_a_kept_record_gives_back_an_equal_copy_that_shares_nothing_mutable() -> None:
    workflow = make_workflow(make_user())
    kept = kept_copy(workflow)

    copy = copy_record(kept)
    assert copy == workflow
    copy.nodes[0]["parameters"]["path"] = "/changed"
    copy.tags.append("changed")
    assert workflow.nodes[0]["parameters"]["path"] != "/changed"
    assert "changed" not in workflow.tags
    assert copy_record(kept) == workflow  # what is kept did not change either


def test_a_kept_record_holds_its_json_as_bytes_and_its_scalars_as_they_are() -> None:
    workflow = make_workflow(make_user())
    kept = kept_copy(workflow)

    assert pickle.loads(getattr(kept, PACKED))["nodes"] == workflow.nodes
    with pytest.raises(AttributeError):
        kept.nodes  # noqa: B018 (reading JSON from a kept record fails loudly)
    assert (kept.id, kept.name, kept.updated_at) == (
        workflow.id,
        workflow.name,
        workflow.updated_at,
    )
    assert kept.stored_bytes == workflow.stored_bytes  # computed before the JSON was packed


def test_keeping_a_record_fills_no_cache_of_the_callers_record() -> None:
    workflow = make_workflow(make_user())
    kept_copy(workflow)
    assert "stored_bytes" not in vars(workflow)  # measured on the copy only: the caller's
    # record may still change, and would measure what it holds by then


def test_a_kept_record_is_smaller_than_the_live_one() -> None:
    workflows = [make_workflow(make_user()) for _ in range(200)]

    def held(make) -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            made = [make(workflow) for workflow in workflows]
            size = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(made) == len(workflows)
        return size

    assert held(kept_copy) < 0.7 * held(copy_record)
