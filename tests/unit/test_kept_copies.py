"""What memory keeps of a record: equal to it, sharing nothing mutable with it, and
sharing its JSON's keys with every other record kept (a large memory table would
otherwise hold each key once per node of every workflow)."""

from __future__ import annotations

import json

from tests.factories import make_user, make_workflow
from wfplatform.domain.codec import copy_record, kept_copy


def _from_a_request(workflow):
    """Records as requests make them: JSON parsed anew, no string shared."""
    return make_workflow(
        make_user(), nodes=json.loads(json.dumps(workflow.nodes)), tags=["demo", "nightly"]
    )


def test_a_kept_copy_is_equal_and_shares_nothing_mutable() -> None:
    workflow = make_workflow(make_user())
    kept = kept_copy(workflow)
    assert kept == workflow
    kept.nodes[0]["parameters"]["path"] = "/changed"
    kept.tags.append("changed")
    assert workflow.nodes[0]["parameters"]["path"] != "/changed"
    assert "changed" not in workflow.tags


def test_kept_copies_share_their_keys_and_short_strings() -> None:
    template = make_workflow(make_user())
    first, second = (kept_copy(_from_a_request(template)) for _ in range(2))
    first_node, second_node = first.nodes[0], second.nodes[0]
    assert all(a is b for a, b in zip(first_node, second_node, strict=True))
    assert first_node["type"] is second_node["type"]
    assert first.tags[1] is second.tags[1]
    # what a copy handed out holds is its own
    assert copy_record(first).nodes[0] is not first_node
