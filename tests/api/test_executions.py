"""The executions API in every mode on SQLite and PostgreSQL: a run is accepted with its
`Location`, waited for, listed, read with its nodes and timeline, cancelled and retried;
a graph that cannot run is a 422 with nothing recorded; another user's runs are 404 on
every route."""

from __future__ import annotations

import json
import time

from tests.api.conftest import login, make_admin, register

LINEAR = {
    "name": "Orders",
    "nodes": [
        {"id": "start", "type": "manual"},
        {"id": "shape", "type": "set", "parameters": {"values": {"seen": "{{ $json.id }}"}}},
    ],
    "edges": [{"from": "start", "to": "shape"}],
}
FAILING = {
    "name": "Broken",
    "nodes": [
        {"id": "start", "type": "manual"},
        {"id": "boom", "type": "fail", "parameters": {"message": "out of stock"}},
    ],
    "edges": [{"from": "start", "to": "boom"}],
}
WAITING = {
    "name": "Slow",
    "nodes": [
        {"id": "start", "type": "manual"},
        {"id": "pause", "type": "wait", "parameters": {"seconds": 30}},
        {"id": "after", "type": "noop"},
    ],
    "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "after"}],
}


def workflow(client, auth, body) -> str:
    response = client.post("/api/workflows", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def execute(client, auth, workflow_id, given=None, wait=True):
    query = "?wait=true" if wait else ""
    body = {} if given is None else {"input": given}
    return client.post(f"/api/workflows/{workflow_id}/execute{query}", json=body, headers=auth)


def test_a_run_is_accepted_with_its_location_and_waited_for(client, auth):
    flow = workflow(client, auth, LINEAR)
    accepted = execute(client, auth, flow, {"id": 7}, wait=False)
    assert accepted.status_code == 202
    assert accepted.headers["Location"].endswith(f"/api/executions/{accepted.get_json()['id']}")
    assert accepted.get_json()["status"] in ("queued", "running", "success")
    waited = execute(client, auth, flow, {"id": 8})
    assert waited.status_code == 200
    run = waited.get_json()
    assert (run["status"], run["workflow_version"], run["input"]) == ("success", 1, {"id": 8})
    assert [n["node_id"] for n in run["node_executions"]] == ["start", "shape"]
    assert run["node_executions"][1]["output"] == [[{"id": 8, "seen": 8}]]
    again = client.get(f"/api/executions/{run['id']}", headers=auth).get_json()
    assert again == run


def test_a_graph_that_cannot_run_is_refused_and_nothing_is_recorded(client, auth):
    cycle = workflow(
        client,
        auth,
        {
            "name": "Loop",
            "nodes": [{"id": "a", "type": "manual"}, {"id": "b", "type": "noop"}],
            "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "b"}],
        },
    )
    unknown = workflow(client, auth, {"name": "X", "nodes": [{"id": "a", "type": "slack"}]})
    missing = workflow(
        client,
        auth,
        {
            "name": "Y",
            "nodes": [
                {
                    "id": "a",
                    "type": "credential",
                    "credentials": {
                        "httpBasicAuth": {"id": "4f0c4f6e-3b0e-4a52-9f0e-1d5e7cc2b7a1"}
                    },
                }
            ],
        },
    )
    for flow, where in ((cycle, "graph"), (unknown, "nodes"), (missing, "nodes")):
        refused = execute(client, auth, flow)
        assert refused.status_code == 422, refused.get_json()
        assert where in refused.get_json()["error"]["details"]
    assert client.get("/api/executions", headers=auth).get_json()["total"] == 0


def test_lists_filter_by_workflow_status_and_time(client, auth):
    good, bad = workflow(client, auth, LINEAR), workflow(client, auth, FAILING)
    runs = [execute(client, auth, flow).get_json() for flow in (good, bad, good)]

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/executions{query}", headers=auth)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("") == [runs[2]["id"], runs[1]["id"], runs[0]["id"]]
    assert ids(f"?workflow_id={good}") == [runs[2]["id"], runs[0]["id"]]
    assert ids("?status=failed") == [runs[1]["id"]]
    assert ids(f"?since={runs[1]['created_at'].replace('+', '%2B')}") == [
        runs[2]["id"],
        runs[1]["id"],
    ]
    assert ids("?until=2000-01-01T00:00:00Z") == []
    assert "input" not in client.get("/api/executions", headers=auth).get_json()["items"][0]
    assert client.get("/api/executions?status=lost", headers=auth).status_code == 422


def test_the_timeline_is_in_time_and_dependency_order(client, auth):
    flow = workflow(client, auth, LINEAR)
    run = execute(client, auth, flow).get_json()
    timeline = client.get(f"/api/executions/{run['id']}/timeline", headers=auth).get_json()
    assert [e["node_id"] for e in timeline["entries"]] == ["start", "shape"]
    offsets = [e["offset_ms"] for e in timeline["entries"]]
    assert offsets == sorted(offsets) and offsets[0] >= 0
    assert timeline["status"] == "success"


def test_a_running_execution_is_cancelled_before_its_next_node(client, auth):
    flow = workflow(client, auth, WAITING)
    run = execute(client, auth, flow, wait=False).get_json()
    deadline = time.monotonic() + 10
    while (
        client.get(f"/api/executions/{run['id']}", headers=auth).get_json()["status"] != "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    asked = client.post(f"/api/executions/{run['id']}/cancel", headers=auth)
    assert asked.status_code in (200, 202)
    deadline = time.monotonic() + 10
    while (found := client.get(f"/api/executions/{run['id']}", headers=auth).get_json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert found["status"] == "cancelled"
    assert "after" not in [n["node_id"] for n in found["node_executions"]]
    assert client.post(f"/api/executions/{run['id']}/cancel", headers=auth).status_code == 409


def test_a_retry_links_to_the_run_it_repeats(client, auth):
    flow = workflow(client, auth, FAILING)
    failed = execute(client, auth, flow, {"order": 1}).get_json()
    assert failed["status"] == "failed"
    assert failed["error"] == {"message": "out of stock", "node_id": "boom"}
    retried = client.post(f"/api/executions/{failed['id']}/retry?wait=true", headers=auth)
    assert retried.status_code == 200
    retry = retried.get_json()
    assert (retry["retry_of"], retry["attempt"], retry["input"]) == (failed["id"], 2, {"order": 1})
    assert retried.headers["Location"].endswith(retry["id"])
    again = client.post(f"/api/executions/{failed['id']}/retry", headers=auth)
    assert again.status_code == 409
    fine = execute(client, auth, workflow(client, auth, LINEAR)).get_json()
    assert client.post(f"/api/executions/{fine['id']}/retry", headers=auth).status_code == 409


def test_another_users_executions_are_not_found_on_every_route(app, client, auth):
    flow = workflow(client, auth, FAILING)
    run = execute(client, auth, flow).get_json()
    stranger = login(client, register(client)["email"])
    for method, path in (
        ("GET", f"/api/executions/{run['id']}"),
        ("GET", f"/api/executions/{run['id']}/timeline"),
        ("POST", f"/api/executions/{run['id']}/cancel"),
        ("POST", f"/api/executions/{run['id']}/retry"),
        ("POST", f"/api/workflows/{flow}/execute"),
    ):
        response = client.open(path, method=method, json={}, headers=stranger)
        assert response.status_code == 404, (method, path, response.get_json())
    assert client.get("/api/executions", headers=stranger).get_json()["total"] == 0
    admin = make_admin(app, client)
    assert client.get(f"/api/executions/{run['id']}", headers=admin).status_code == 200
    assert client.post(f"/api/executions/{run['id']}/retry", headers=admin).status_code == 403
    listed = client.get("/api/executions?owner=all", headers=admin).get_json()
    assert run["id"] in [item["id"] for item in listed["items"]]


def stream(client, auth, execution_id, headers=None, query=""):
    """The events of a stream read to its end, as (id, type, data) triples."""
    response = client.get(
        f"/api/executions/{execution_id}/events{query}",
        headers={**auth, **(headers or {})},
        buffered=False,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    text = "".join(chunk.decode() for chunk in response.response)
    response.close()
    return parse_events(text)


def parse_events(text: str) -> list[tuple[int, str, dict]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "id" in fields:
            found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return found


def test_the_event_stream_replays_every_event_once_and_in_order(client, auth):
    flow = workflow(client, auth, FAILING)
    run = execute(client, auth, flow).get_json()
    events = stream(client, auth, run["id"])
    assert [(seq, kind) for seq, kind, _ in events] == [
        (1, "execution.started"),
        (2, "node_started"),
        (3, "node_completed"),
        (4, "node_started"),
        (5, "node_failed"),
        (6, "execution.failed"),
    ]
    assert events[4][2]["data"]["error"] == {"message": "out of stock", "node_id": "boom"}
    resumed = stream(client, auth, run["id"], headers={"Last-Event-ID": "3"})
    assert [seq for seq, _, _ in resumed] == [4, 5, 6]
    assert [seq for seq, _, _ in stream(client, auth, run["id"], query="?after=5")] == [6]
    assert stream(client, auth, run["id"], headers={"Last-Event-ID": "6"}) == []
    bad = client.get(f"/api/executions/{run['id']}/events", headers={**auth, "Last-Event-ID": "x"})
    assert bad.status_code == 422


def test_the_event_stream_follows_a_run_live_to_its_end(client, auth):
    flow = workflow(
        client,
        auth,
        {
            **WAITING,
            "nodes": [
                *WAITING["nodes"][:1],
                {**WAITING["nodes"][1], "parameters": {"seconds": 0.3}},
                WAITING["nodes"][2],
            ],
        },
    )
    run = execute(client, auth, flow, wait=False).get_json()
    events = stream(client, auth, run["id"])
    assert [kind for _, kind, _ in events][-1] == "execution.completed"
    assert [seq for seq, _, _ in events] == list(range(1, 9))


def test_runs_nodes_and_cut_data_are_counted_in_the_metrics(client, auth):
    run = execute(client, auth, workflow(client, auth, FAILING)).get_json()
    assert run["status"] == "failed"
    text = metrics_showing(client, 'wf_executions_total{status="failed"} 1.0')
    assert 'wf_node_executions_total{node_type="fail",status="failed"} 1.0' in text
    assert 'wf_node_executions_total{node_type="manual",status="success"} 1.0' in text


def metrics_showing(client, line: str) -> str:
    """The metrics once they show `line` (a run's end is counted as its event is
    published, a moment after the row is written)."""
    deadline = time.monotonic() + 5
    while line not in (text := client.get("/metrics").get_data(as_text=True)):
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.02)
    return text
