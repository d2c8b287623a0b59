"""The execution engine through the adapter, in every mode on real SQLite and PostgreSQL:
flows run in dependency order, items flow along the edges, failures, node retries,
cancels, execution retries, concurrency limits, redeliveries, leases and the sweeper, the
stored events, and bounded execution data."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest

from tests.factories import make_credential, make_user
from tests.runs import FAST, Platform, edge, node, outputs, until
from wfplatform.domain.codec import utcnow
from wfplatform.errors import Conflict, ValidationFailed
from wfplatform.repositories.executions import ExecutionQuery


@pytest.fixture
def platform(storage):
    made = Platform(storage)
    yield made
    made.close()


def test_a_linear_flow_runs_in_order_and_passes_items_along(platform):
    flow = platform.workflow(
        [
            node("start", "manual"),
            node("shape", "set", values={"total": "{{ $json.amount }}", "note": "n={{ $json.n }}"}),
            node("end", "noop"),
        ],
        [edge("start", "shape"), edge("shape", "end")],
    )
    done = platform.run(flow, [{"amount": 12.5, "n": 1}, {"amount": 3, "n": 2}])
    assert (done.status, done.error, done.workflow_version) == ("success", None, 1)
    ran = platform.nodes_of(done)
    assert [n.node_id for n in ran] == ["start", "shape", "end"]
    assert ran[2].output == [
        [
            {"amount": 12.5, "n": 1, "total": 12.5, "note": "n=1"},
            {"amount": 3, "n": 2, "total": 3, "note": "n=2"},
        ]
    ]
    assert all(n.status == "success" and n.duration_ms is not None for n in ran)
    assert done.started_at <= ran[0].started_at <= ran[2].finished_at <= done.finished_at


def test_if_branches_items_and_merge_joins_the_branches(platform):
    flow = platform.workflow(
        [
            node("start", "manual"),
            node(
                "big",
                "if",
                conditions=[
                    {"left": "{{ $json.total }}", "operator": "greater_than", "right": 100}
                ],
            ),
            node("vip", "set", values={"tier": "vip"}),
            node("plain", "set", values={"tier": "plain"}),
            node("join", "merge"),
        ],
        [
            edge("start", "big"),
            edge("big", "vip", 0),
            edge("big", "plain", 1),
            edge("vip", "join"),
            edge("plain", "join"),
        ],
    )
    done = platform.run(flow, [{"total": 500}, {"total": 5}, {"total": 101}])
    assert done.status == "success"
    found = outputs(platform, done)
    assert found["big"] == [[{"total": 500}, {"total": 101}], [{"total": 5}]]
    assert found["join"] == [
        [
            {"total": 500, "tier": "vip"},
            {"total": 101, "tier": "vip"},
            {"total": 5, "tier": "plain"},
        ]
    ]
    only_big = platform.run(flow, {"total": 1000})
    assert [n.node_id for n in platform.nodes_of(only_big)] == ["start", "big", "vip", "join"]


def test_fail_fails_the_execution_and_nothing_after_it_runs(platform):
    flow = platform.workflow(
        [node("start", "manual"), node("boom", "fail", message="no stock"), node("after", "noop")],
        [edge("start", "boom"), edge("boom", "after")],
    )
    done = platform.run(flow)
    assert done.status == "failed"
    assert done.error == {"message": "no stock", "node_id": "boom"}
    ran = platform.nodes_of(done)
    assert [(n.node_id, n.status) for n in ran] == [("start", "success"), ("boom", "failed")]
    assert ran[1].error == {"message": "no stock", "node_id": "boom"}


def test_a_node_is_tried_as_its_retry_policy_says_each_attempt_recorded(platform):
    boom = {**node("boom", "fail"), "retry": {"attempts": 3, "interval_seconds": 0.01}}
    flow = platform.workflow([node("start", "manual"), boom], [edge("start", "boom")])
    done = platform.run(flow)
    attempts = [n for n in platform.nodes_of(done) if n.node_id == "boom"]
    assert [(n.attempt, n.status) for n in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
    ]
    assert [n.idempotency_key for n in attempts] == [
        f"{done.id}:boom:{attempt}" for attempt in (1, 2, 3)
    ]
    assert done.status == "failed"


def test_a_cancel_stops_a_wait_at_once_and_the_next_node_never_runs(platform):
    flow = platform.workflow(
        [node("start", "manual"), node("pause", "wait", seconds=30), node("after", "noop")],
        [edge("start", "pause"), edge("pause", "after")],
    )
    execution = platform.executions.execute(platform.actor, flow.id)
    until(lambda: any(n.node_id == "pause" for n in platform.nodes_of(execution)))
    asked = time.monotonic()
    platform.executions.cancel(platform.actor, execution.id)
    done = platform.executions.wait(execution, 10)
    assert time.monotonic() - asked < 5
    assert done.status == "cancelled"
    assert [(n.node_id, n.status) for n in platform.nodes_of(done)] == [
        ("start", "success"),
        ("pause", "cancelled"),
    ]
    with pytest.raises(Conflict):
        platform.executions.cancel(platform.actor, execution.id)


def test_a_queued_execution_cancelled_never_runs(storage):
    blocked = Platform(storage, dataclasses.replace(FAST, workflow_concurrency=1))
    try:
        flow = blocked.workflow(
            [node("start", "manual"), node("pause", "wait", seconds=30)], [edge("start", "pause")]
        )
        made = [blocked.executions.execute(blocked.actor, flow.id) for _ in range(2)]

        def statuses() -> list[str]:
            return [storage.executions.get(e.id).status for e in made]

        until(lambda: "running" in statuses())  # whichever the pool claimed first
        running, waiting = sorted(
            made, key=lambda e: storage.executions.get(e.id).status != "running"
        )
        assert storage.executions.get(waiting.id).status == "queued"
        cancelled = blocked.executions.cancel(blocked.actor, waiting.id)
        assert cancelled.status == "cancelled"
        blocked.executions.cancel(blocked.actor, running.id)
        assert blocked.executions.wait(running, 10).status == "cancelled"
        assert blocked.nodes_of(waiting) == []
        assert [e.type for e in blocked.heard if e.execution_id == waiting.id] == [
            "execution.cancelled"
        ]
    finally:
        blocked.close()


def test_a_workflow_limit_keeps_runs_queued_and_never_two_at_once(storage):
    limited = Platform(storage, dataclasses.replace(FAST, workflow_concurrency=1, workers=4))
    try:
        flow = limited.workflow(
            [node("start", "manual"), node("pause", "wait", seconds=0.2)], [edge("start", "pause")]
        )
        most = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                most.append(len(storage.executions.running(flow.id)))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = [limited.executions.execute(limited.actor, flow.id) for _ in range(3)]
        finished = [limited.executions.wait(e, 15) for e in started]
        sampling.set()
        sampler.join()
        assert [e.status for e in finished] == ["success"] * 3
        assert max(most) == 1
        ends = sorted((e.started_at, e.finished_at) for e in finished)
        assert all(later[0] >= earlier[1] for earlier, later in zip(ends, ends[1:], strict=False))
    finally:
        limited.close()


def test_the_overall_limit_holds_across_workflows(storage):
    limited = Platform(storage, dataclasses.replace(FAST, concurrency=1, workers=4))
    try:
        flows = [
            limited.workflow(
                [node("start", "manual"), node("pause", "wait", seconds=0.1)],
                [edge("start", "pause")],
            )
            for _ in range(2)
        ]
        started = [limited.executions.execute(limited.actor, f.id) for f in flows * 2]
        finished = [limited.executions.wait(e, 15) for e in started]
        assert [e.status for e in finished] == ["success"] * 4
        ends = sorted((e.started_at, e.finished_at) for e in finished)
        assert all(later[0] >= earlier[1] for earlier, later in zip(ends, ends[1:], strict=False))
        assert {e.global_slot for e in finished} == {None}  # released
    finally:
        limited.close()


def test_a_workflow_that_cannot_run_is_refused_and_nothing_is_recorded(platform):
    stranger = platform.storage.users.add(make_user())
    theirs = platform.storage.credentials.add(make_credential(stranger))
    cases = {
        "cycle": (
            [node("a", "manual"), node("b", "noop"), node("c", "noop")],
            [edge("a", "b"), edge("b", "c"), edge("c", "b")],
            {"graph": ["a cycle runs through or into nodes b, c"]},
        ),
        "unknown type": ([node("a", "n8n-nodes-base.slack")], [], {"nodes": {0: {"type": ...}}}),
        "bad parameters": (
            [node("a", "wait", seconds=-1)],
            [],
            {"nodes": {0: {"parameters": ...}}},
        ),
        "another user's credential": (
            [{**node("a", "credential"), "credentials": {"httpBasicAuth": {"id": theirs.id}}}],
            [],
            {"nodes": {0: {"credentials": ...}}},
        ),
    }
    for name, (nodes, edges, expected) in cases.items():
        flow = platform.workflow(nodes, edges)
        with pytest.raises(ValidationFailed) as refused:
            platform.executions.execute(platform.actor, flow.id)
        details = refused.value.details
        assert details.keys() == expected.keys(), name
        if "graph" in expected:
            assert details == expected
        else:
            assert list(details["nodes"][0]) == list(expected["nodes"][0]), name
    assert platform.storage.executions.list(ExecutionQuery()).total == 0


def test_a_retry_is_a_new_execution_linked_to_the_one_it_repeats(platform):
    flow = platform.workflow(
        [node("start", "manual"), node("boom", "fail")], [edge("start", "boom")]
    )
    failed = platform.run(flow, {"order": 7})
    first = platform.executions.retry(platform.actor, failed.id)
    assert (first.retry_of, first.attempt, first.input, first.trigger) == (
        failed.id,
        2,
        {"order": 7},
        "retry",
    )
    with pytest.raises(Conflict):
        platform.executions.retry(platform.actor, failed.id)  # retried once already
    again = platform.executions.wait(first, 10)
    assert again.status == "failed"
    chain = [failed, again]
    while chain[-1].attempt <= platform.engine.settings.max_retries:
        chain.append(
            platform.executions.wait(platform.executions.retry(platform.actor, chain[-1].id), 10)
        )
    assert [e.attempt for e in chain] == [1, 2, 3, 4]
    with pytest.raises(Conflict):
        platform.executions.retry(platform.actor, chain[-1].id)
    fine = platform.run(platform.workflow([node("start", "manual")]))
    with pytest.raises(Conflict):
        platform.executions.retry(platform.actor, fine.id)


def test_a_delivery_of_an_execution_already_claimed_does_nothing(platform):
    flow = platform.workflow([node("start", "manual"), node("end", "noop")], [edge("start", "end")])
    done = platform.run(flow)
    before = platform.nodes_of(done)
    platform.engine.runner.run(done.id)
    platform.engine.queue.submit(done.id)
    time.sleep(0.1)
    assert platform.nodes_of(done) == before
    assert platform.storage.executions.get(done.id) == done


def test_the_sweeper_crashes_only_runs_whose_lease_expired(platform):
    storage = platform.storage
    flow = platform.workflow([node("start", "manual")])
    queued = [platform.executions.execute(platform.actor, flow.id) for _ in range(2)]
    for execution in queued:
        platform.executions.wait(execution, 10)
    now = utcnow()
    live, dead = (
        storage.executions.update(
            dataclasses.replace(
                storage.executions.get(e.id),
                status="running",
                runner="another-process",
                lease_expires_at=now + lease,
                finished_at=None,
                version=storage.executions.get(e.id).version + 1,
            )
        )
        for e, lease in zip(queued, (timedelta(seconds=60), timedelta(seconds=-1)), strict=True)
    )
    node_row = platform.nodes_of(dead)[0]
    storage.node_executions.update(
        dataclasses.replace(node_row, status="running", end_seq=None, version=node_row.version + 1)
    )
    swept = platform.engine.sweeper.sweep()
    assert swept["crashed"] == 1
    assert storage.executions.get(live.id).status == "running"
    crashed = storage.executions.get(dead.id)
    assert crashed.status == "crashed"
    assert crashed.error["message"] == "its runner stopped renewing its lease"
    assert [n.status for n in platform.nodes_of(crashed)] == ["crashed"]
    assert platform.engine.sweeper.sweep()["crashed"] == 0  # once


def test_every_event_is_stored_once_and_in_order_as_it_was_published(platform):
    boom = {**node("boom", "fail"), "retry": {"attempts": 2, "interval_seconds": 0}}
    flow = platform.workflow(
        [node("start", "manual"), node("shape", "set", values={"a": 1}), boom],
        [edge("start", "shape"), edge("shape", "boom")],
    )
    done = platform.run(flow)
    _, replayed = platform.executions.events(platform.actor, done.id)
    assert [e.seq for e in replayed] == list(range(1, len(replayed) + 1))
    assert [e.type for e in replayed] == [
        "execution.started",
        "node_started",
        "node_completed",
        "node_started",
        "node_completed",
        "node_started",
        "node_failed",
        "node_started",
        "node_failed",
        "execution.failed",
    ]
    until(lambda: any(e.final and e.execution_id == done.id for e in platform.heard))
    assert [e for e in platform.heard if e.execution_id == done.id] == replayed
    _, later = platform.executions.events(platform.actor, done.id, after=7)
    assert [e.seq for e in later] == [8, 9, 10]


def test_execution_data_is_cut_to_its_limits_and_counted(storage):
    small = Platform(
        storage, dataclasses.replace(FAST, max_output_bytes=2_000, max_data_bytes=5_000)
    )
    try:
        flow = small.workflow(
            [node("start", "manual"), node("grow", "set", values={"blob": "x" * 3_000})],
            [edge("start", "grow")],
        )
        done = small.run(flow, {"n": 1})
        assert done.status == "success"
        grown = [n for n in small.nodes_of(done) if n.node_id == "grow"][0]
        assert grown.truncated is True
        assert grown.output == {"truncated": True, "bytes": grown.output["bytes"], "limit": "node"}
        assert grown.output["bytes"] > 3_000
        assert done.truncated == 1
        assert done.data_bytes < 5_000
    finally:
        small.close()
