"""The event stream's limits and reach: a process serves at most its cap of streams at
once (503 with `Retry-After` beyond, a slot freed when a stream closes), and a stream
served by one instance follows a run made by another (the rows are the source)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import login, register
from tests.api.test_executions import (
    FAILING,
    WAITING,
    execute,
    metrics_showing,
    parse_events,
    workflow,
)
from wfplatform.api.blueprint import load_json


def slow(seconds: float) -> dict:
    nodes = [*WAITING["nodes"]]
    nodes[1] = {**nodes[1], "parameters": {"seconds": seconds}}
    return {**WAITING, "nodes": nodes}


def test_streams_beyond_the_cap_are_refused_until_one_closes(make_app):
    app = make_app(WF_EXECUTION_EVENT_STREAMS=1)
    client = app.test_client()
    auth = login(client, register(client)["email"])
    running = execute(client, auth, workflow(client, auth, slow(30)), wait=False).get_json()
    held = client.get(f"/api/executions/{running['id']}/events", headers=auth, buffered=False)
    assert held.status_code == 200
    refused = client.get(f"/api/executions/{running['id']}/events", headers=auth)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert refused.get_json()["error"]["code"] == "too_many_streams"
    held.close()
    done = execute(client, auth, workflow(client, auth, FAILING)).get_json()
    again = client.get(f"/api/executions/{done['id']}/events", headers=auth)
    assert again.status_code == 200
    client.post(f"/api/executions/{running['id']}/cancel", headers=auth)


def test_a_stream_on_one_instance_follows_a_run_on_another(make_app):
    """Two instances of one database in `database-only` (each its own engine and bus)."""
    runner = make_app("database-only", WF_EXECUTION_EVENT_POLL_SECONDS=0.05)
    viewer = make_app("database-only", WF_EXECUTION_EVENT_POLL_SECONDS=0.05)
    runs, views = runner.test_client(), viewer.test_client()
    auth = login(runs, register(runs)["email"])
    run = execute(runs, auth, workflow(runs, auth, slow(0.5)), wait=False).get_json()
    response = views.get(f"/api/executions/{run['id']}/events", headers=auth, buffered=False)
    events = parse_events("".join(chunk.decode() for chunk in response.response))
    response.close()
    assert [seq for seq, _, _ in events] == list(range(1, 9))
    assert events[-1][1] == "execution.completed"


def test_data_cut_to_the_limits_is_counted_in_the_metrics(make_app):
    app = make_app(WF_EXECUTION_MAX_OUTPUT_BYTES=200)
    client = app.test_client()
    auth = login(client, register(client)["email"])
    grow = {
        "name": "Grow",
        "nodes": [
            {"id": "start", "type": "manual"},
            {"id": "grow", "type": "set", "parameters": {"values": {"blob": "x" * 500}}},
        ],
        "edges": [{"from": "start", "to": "grow"}],
    }
    run = execute(client, auth, workflow(client, auth, grow)).get_json()
    assert (run["status"], run["truncated"]) == ("success", 1)
    assert run["node_executions"][1]["output"]["truncated"] is True
    metrics_showing(client, "wf_execution_data_truncated_total 1.0")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def test_any_json_input_runs_and_comes_back_as_it_was_sent(make_app):
    """Whatever JSON a client sends as the input (big integers, odd floats, any text),
    the run is accepted, ends, and its stored input and its trigger's items are that JSON
    as the service reads numbers (a whole float past 2**53 is the exact integer)."""
    app = make_app("database-only")
    client = app.test_client()
    auth = login(client, register(client)["email"])
    flow = workflow(client, auth, {"name": "Echo", "nodes": [{"id": "start", "type": "manual"}]})

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(given_input=JSON)
    def run_once(given_input):
        answer = execute(client, auth, flow, given_input)
        assert answer.status_code == 200, answer.get_json()
        run = answer.get_json()
        assert run["status"] == "success", run["error"]
        read = load_json(json.dumps(given_input))
        assert run["input"] == read
        expected = [{}] if read is None else read if isinstance(read, list) else [read]
        items = [v if isinstance(v, dict) else {"value": v} for v in expected]
        assert run["node_executions"][0]["output"] == [items]

    run_once()
