"""Workflow content is answered as stored: what the API stores is already in the form its
node and edge schemas dump, in every mode, so a response dumps it without walking every
node again (`StoredList`)."""

from __future__ import annotations

from tests.api.workflow_helpers import EDGES, NODES, create, url
from wfplatform.services.workflow_content import EdgeSchema, NodeSchema

RICH_NODES = [
    *NODES,
    {
        "id": "branch",
        "name": "Big order?",
        "type": "if",
        "parameters": {"conditions": [{"left": "{{ $json.total }}", "op": ">", "right": 100}]},
        "position": [250.5, -40],
    },
]
RICH_EDGES = [*EDGES, {"from": "post", "to": "branch", "output": 0}]


def dumped_item_by_item(body: dict) -> dict:
    return {
        "nodes": [NodeSchema().dump(node) for node in body["nodes"]],
        "edges": [EdgeSchema().dump(edge) for edge in body["edges"]],
    }


def test_every_answer_with_content_is_in_the_schemas_form(client, auth):
    workflow = create(client, auth, nodes=RICH_NODES, edges=RICH_EDGES)
    changed = client.patch(
        url(workflow), json={"nodes": RICH_NODES[::-1], "edges": RICH_EDGES[:1]}, headers=auth
    ).get_json()
    answers = [
        workflow,
        changed,
        client.get(url(workflow), headers=auth).get_json(),
        client.get("/api/workflows", headers=auth).get_json()["items"][0],
        client.get(url(workflow, "versions", "1"), headers=auth).get_json(),
    ]
    for answer in answers:
        assert {key: answer[key] for key in ("nodes", "edges")} == dumped_item_by_item(answer)
    assert answers[0]["nodes"] == RICH_NODES
    assert answers[2]["nodes"] == RICH_NODES[::-1]
    assert answers[4]["edges"] == RICH_EDGES
