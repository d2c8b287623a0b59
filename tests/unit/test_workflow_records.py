"""A workflow record's derived values hold up on data stored before the API's checks."""

from __future__ import annotations

from wfplatform.domain.workflows import Workflow


def test_node_types_skip_nodes_that_are_not_objects():
    workflow = Workflow(user_id="u", name="old", nodes=["evil", 7, {"id": "a", "type": "code"}])
    assert workflow.node_types == ["code"]
    assert workflow.required_credential_types == []


def test_stored_bytes_count_text_as_utf8_and_json_as_written():
    workflow = Workflow(user_id="u", name="Zoë", description="", tags=["a"], settings={})
    # name 4 bytes; tags '["a"]' 5, nodes '[]' 2, edges '[]' 2, settings '{}' 2
    assert workflow.stored_bytes == 4 + 5 + 2 + 2 + 2
