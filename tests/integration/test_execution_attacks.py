"""The execution engine as an attacker, an operator and a crash meet it (a review written
as failing tests; each found a defect, fixed since): hostile answers and items, secrets in
failures, destinations that name no host, cancels between attempts, a runner that lost
its lease, a sweep cut short, a stream beside the sweeper, a blocked backlog, what one
run may store; and a second review: concurrency limits (huge, lowered, written as 1.0),
`if` telling `true` from 1, a retry of an archived workflow, inputs as deep as the API
takes, RQ offering again a job that ended unrun, a walk back beside RQ workers, and a
sweep that finds the lease renewed."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.api.conftest import login, register
from tests.api.test_executions import execute, workflow
from tests.factories import TEST_RING, make_credential
from tests.runs import FAST, Platform, edge, node, until
from wfplatform import bootstrap
from wfplatform.config import ConfigurationError
from wfplatform.domain.codec import utcnow
from wfplatform.domain.executions import Execution
from wfplatform.errors import Conflict, DomainError, StorageUnavailable
from wfplatform.executions.destinations import NetworkPolicy
from wfplatform.storage.modes import DATABASE

ROOT = Path(__file__).resolve().parents[2]
# docs/NODES.md, "Where it may connect": the deny list for a shared installation
SHARED_DENY = (
    "169.254.0.0/16,fe80::/10,fd00:ec2::/32,127.0.0.0/8,::1/128,"
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
)


# -- a local server ----------------------------------------------------------------------
class Server(BaseHTTPRequestHandler):
    """`/huge` JSON with a number past float range; `/slow-fail` a 500 after 0.8 s;
    anything else `{"ok": true}`."""

    seen: list[str]

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        status, payload = 200, b'{"ok": true}'
        if self.path.startswith("/whole"):
            payload = b'{"total": 1e300}'
        elif self.path.startswith("/huge"):
            payload = b'{"total": 1e400}'
        elif self.path.startswith("/slow-fail"):
            time.sleep(0.8)
            status, payload = 500, b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Server,), {"seen": seen}))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_platform(make_storage):
    made: list[Platform] = []

    def make(mode: str = "memory-only", **settings) -> Platform:
        platform = Platform(make_storage(mode), dataclasses.replace(FAST, **settings))
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()


def call_flow(platform: Platform, call: dict):
    return platform.workflow([node("start", "manual"), call], [edge("start", "call")])


def settled(platform: Platform, execution, seconds: float = 3.0):
    """The execution once it is no longer queued or running, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = platform.storage.executions.get(execution.id)
        if current.finished:
            return current
        time.sleep(0.02)
    return platform.storage.executions.get(execution.id)


# -- storage doubles for a fault in the sweeper -------------------------------------------
class NodesWith:
    """The node executions of a storage, with `update` replaced."""

    def __init__(self, real, update) -> None:
        self._real, self.update = real, update

    def __getattr__(self, name):
        return getattr(self._real, name)


class StorageWith:
    def __init__(self, real, node_executions) -> None:
        self._real, self.node_executions = real, node_executions

    def __getattr__(self, name):
        return getattr(self._real, name)


def dead_run(platform: Platform):
    """A run whose process died mid-node: `running`, its lease expired, its second node
    started and never ended."""
    storage = platform.storage
    flow = platform.workflow(
        [node("start", "manual"), node("pause", "wait", seconds=0)], [edge("start", "pause")]
    )
    done = platform.run(flow)
    row = storage.executions.get(done.id)
    dead = storage.executions.update(
        dataclasses.replace(
            row,
            status="running",
            runner="a-process-that-died",
            lease_expires_at=utcnow() - timedelta(seconds=1),
            finished_at=None,
            version=row.version + 1,
        )
    )
    pause = platform.nodes_of(dead)[1]
    storage.node_executions.update(
        dataclasses.replace(
            pause, status="running", end_seq=None, finished_at=None, version=pause.version + 1
        )
    )
    return dead


# -- hostile data -------------------------------------------------------------------------
def test_a_json_answer_with_a_number_past_float_range_is_stored_as_json(make_platform, server):
    """An API answering `{"total": 1e400}` (valid JSON) must give an item every JSON
    reader takes. `http_client._body` refuses
    only the literals NaN/Infinity via `parse_constant`; `1e400` overflows to `inf`,
    which is stored and then answered by the API as `Infinity` (not JSON). On PostgreSQL
    the same answer is refused by JSONB and leaves the run `running` (see the next test)."""
    port, _ = server
    platform = make_platform()
    flow = call_flow(platform, node("call", "http_request", url=f"http://127.0.0.1:{port}/huge"))
    done = platform.run(flow, seconds=3)
    assert done.status == "success", done.error
    stored = [n.output for n in platform.nodes_of(done)]
    json.dumps(stored, allow_nan=False)  # ValueError: Out of range float values ...


def test_a_whole_number_written_as_a_float_is_kept_alike_in_both_backends(make_platform, server):
    """`1e300` in an answer is the integer 10**300 (what jsonb keeps, and what the API
    reads a request's number as): as a float in memory, the backends of a `dual` run would
    differ for good."""
    port, _ = server
    platform = make_platform("dual")
    flow = call_flow(platform, node("call", "http_request", url=f"http://127.0.0.1:{port}/whole"))
    done = platform.run(flow, seconds=3)
    (call,) = [n for n in platform.nodes_of(done) if n.node_id == "call"]
    assert call.output[0][0]["body"] == {"total": 10**300}
    assert platform.storage.verify()["differences"] == 0


def test_a_node_output_the_storage_refuses_fails_the_run_instead_of_leaving_it_running(
    make_platform,
):
    """`set` with `{"a": {...{"a": "{{ $json }}"}}}` nests the item ~30 levels deeper at
    each node (the API bounds the nesting of parameters, not of what the run builds). When
    storing a node's output raises anything but `StorageUnavailable` (here RecursionError;
    on PostgreSQL the ValidationFailed of an `inf`), `_end(record, SUCCESS, ...)` runs
    outside the node's try and `Runner.run` has no handler:
    the run's thread dies, the row stays `running` holding its slots, with a lease nobody
    renews, until the sweeper reports a misleading "crashed". A user expects `failed`."""
    platform = make_platform()
    deeper = "{{ $json }}"
    for _ in range(28):
        deeper = {"a": deeper}
    steps = [node(f"s{i}", "set", values={"a": deeper}, keep_only_set=True) for i in range(40)]
    flow = platform.workflow(
        [node("start", "manual"), *steps],
        [edge("start", "s0")] + [edge(f"s{i}", f"s{i + 1}") for i in range(39)],
    )
    execution = platform.executions.execute(platform.actor, flow.id)
    done = settled(platform, execution)
    assert done.status == "failed"
    assert (done.workflow_slot, done.global_slot) == (None, None)


def test_an_answer_jsonb_would_refuse_is_kept_as_text_and_the_run_ends(make_platform, server):
    """`1e400` is valid JSON whose number no backend stores (JSONB refuses the infinity
    Python reads it as): the body is kept as text, and the run ends instead of being left
    `running` by a write that failed."""
    port, _ = server
    platform = make_platform("database-only")
    flow = call_flow(platform, node("call", "http_request", url=f"http://127.0.0.1:{port}/huge"))
    done = settled(platform, platform.executions.execute(platform.actor, flow.id))
    assert done.status == "success", done.error
    (call,) = [n for n in platform.nodes_of(done) if n.node_id == "call"]
    assert call.output[0][0]["body"] == '{"total": 1e400}'


def test_items_that_double_at_each_node_are_stopped_not_run_for_hours(tmp_path):
    """Any user can save 40 `set` nodes with `values: {"a": "{{ $json }}", "b":
    "{{ $json }}"}`: the item doubles at each node. The limits only cut what is *stored*
    ("the run goes on with the whole data", data_limits.py), and `DataBudget.keep`
    serializes the whole value at every node: the run pins a worker
    thread and grows its memory for hours (it cannot be cancelled either: cancels are
    read between nodes). It must fail once its data passes the limits. Run in a child
    process with a memory cap, killed afterwards."""
    script = textwrap.dedent(
        f"""
        import os, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
        sys.path.insert(0, {str(ROOT)!r})
        import wfplatform.models
        from tests import databases
        from tests.conftest import build_storage
        import dataclasses
        from tests.runs import FAST, Platform, edge, node
        from wfplatform.extensions import db
        engine = databases.create_engine("sqlite:///{tmp_path}/wf.sqlite3")
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
        storage = build_storage(engine, "{tmp_path}/journal.log", "memory-only")
        platform = Platform(storage, dataclasses.replace(FAST, max_data_bytes=1_000_000))
        steps = [node(f"s{{i}}", "set", values={{"a": "{{{{ $json }}}}", "b": "{{{{ $json }}}}"}})
                 for i in range(40)]
        edges = [edge("start", "s0")] + [edge(f"s{{i}}", f"s{{i + 1}}") for i in range(39)]
        flow = platform.workflow([node("start", "manual"), *steps], edges)
        done = platform.run(flow, {{"k": "v"}}, seconds=60)
        print("STATUS", done.status, flush=True)
        os._exit(0)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=90, cwd=ROOT
    )
    assert "STATUS" in child.stdout, child.stderr[-2000:]
    assert child.stdout.split("STATUS", 1)[1].split()[0] == "failed"


def test_an_expression_step_that_is_a_unicode_digit_leads_nowhere(make_platform):
    """docs: "a path that leads nowhere is null". `_lookup` takes
    `str.isdigit()` for an index, which is true for "²", and `int("²")` raises: the node
    fails with "set failed: ValueError" instead of setting null."""
    platform = make_platform()
    flow = platform.workflow(
        [node("start", "manual"), node("pick", "set", values={"x": "{{ $json.lines.² }}"})],
        [edge("start", "pick")],
    )
    done = platform.run(flow, {"lines": [1, 2, 3]})
    assert (done.status, done.error) == ("success", None)


# -- secrets and destinations -------------------------------------------------------------
def test_a_credential_value_the_http_library_refuses_is_not_written_to_the_logs(
    make_platform, server, caplog
):
    """A token pasted with a trailing newline is common. http.client refuses the header
    with `ValueError("Invalid header value b'Bearer <token>\\n'")`; `_open` catches only
    urllib3's HTTPError, so it reaches `_message`, whose
    `log.exception` writes the traceback, token included, to the logs."""
    port, _ = server
    platform = make_platform()
    credential = platform.storage.credentials.add(
        make_credential(platform.user, type="httpBearerAuth")
    )
    sealed = TEST_RING.seal(
        json.dumps({"token": "tok-SECRET-4242\n"}).encode(), credential.sealing_context()
    )
    platform.storage.credentials.update(
        dataclasses.replace(credential, sealed_data=sealed, version=credential.version + 1)
    )
    call = {
        **node("call", "http_request", url=f"http://127.0.0.1:{port}/"),
        "credentials": {"httpBearerAuth": {"id": credential.id}},
    }
    with caplog.at_level(logging.INFO):
        done = platform.run(call_flow(platform, call), seconds=3)
    assert done.status == "failed"
    assert "tok-SECRET-4242" not in caplog.text


def test_the_unspecified_address_does_not_reach_loopback_past_the_documented_deny_list(
    make_platform, server
):
    """An operator of a shared installation sets the deny list docs/NODES.md gives
    (127.0.0.0/8, ::1/128, ...). `http://0.0.0.0:<port>/` resolves to 0.0.0.0, which is
    in none of those ranges, and Linux connects it to the local host: the request reaches
    a service on 127.0.0.1. `NetworkPolicy.refusal` checks only the
    lists; an unspecified address (0.0.0.0/8, ::) is never a remote destination."""
    port, seen = server
    platform = make_platform(network=NetworkPolicy.parse(SHARED_DENY))
    flow = call_flow(platform, node("call", "http_request", url=f"http://0.0.0.0:{port}/"))
    done = platform.run(flow, seconds=3)
    assert seen == []
    assert done.status == "failed"


# -- cancels, leases and the sweeper ------------------------------------------------------
def test_a_cancel_stops_node_retries_that_have_no_interval(make_platform, server):
    """A cancel asked while an attempt runs must stop the run before another request is
    sent. With `retry.interval_seconds: 0` (allowed), `_pause(0)` never
    enters its loop, so it never calls `_check_stop`: attempts 2 and 3 are sent anyway,
    and the execution ends `failed`, the cancel ignored."""
    port, seen = server
    platform = make_platform()
    call = {
        **node("call", "http_request", url=f"http://127.0.0.1:{port}/slow-fail"),
        "retry": {"attempts": 3, "interval_seconds": 0},
    }
    execution = platform.executions.execute(platform.actor, call_flow(platform, call).id)
    until(lambda: len(seen) == 1)
    platform.executions.cancel(platform.actor, execution.id)
    done = platform.executions.wait(execution, 5)
    assert len(seen) == 1
    assert done.status == "cancelled"


def test_a_runner_that_lost_its_lease_writes_nothing_after_its_run_was_crashed(
    make_platform, server
):
    """The database stops answering the lease renewals (or the process pauses) longer
    than the lease; the sweeper rightly marks the run crashed. The runner, still inside
    an attempt, must then write nothing more: not its end over the sweeper's `crashed`
    node (its node row changed since it was read), not a second attempt, so no request is
    sent after the crash and the stored events stay numbered once each."""
    port, seen = server
    platform = make_platform(lease_seconds=0.4)

    def database_down(*args, **kwargs):
        raise StorageUnavailable("database", "did not answer")

    platform.engine.runner.claims.renew = database_down  # the renewals only
    call = {
        **node("call", "http_request", url=f"http://127.0.0.1:{port}/slow-fail"),
        "retry": {"attempts": 2, "interval_seconds": 0},
    }
    execution = platform.executions.execute(platform.actor, call_flow(platform, call).id)
    until(lambda: len(seen) == 1)
    time.sleep(0.5)  # the lease has run out
    assert platform.engine.sweeper.sweep()["crashed"] == 1
    until(lambda: platform.engine.queue.depth() == 0)
    _, stored = platform.executions.events(platform.actor, execution.id)
    numbers = [event.seq for event in stored]
    assert len(set(numbers)) == len(numbers), [(e.seq, e.type) for e in stored]
    assert stored[-1].final
    assert len(seen) == 1


def test_a_sweep_interrupted_after_it_crashed_a_run_leaves_no_node_running(make_platform):
    """The sweeper writes the execution `crashed` first, then its unfinished nodes
    . If the database fails between the two (or the sweeping process
     dies), the node stays `running` forever: the execution is no longer `running`, so no
     later sweep (`lease_expired`) ever looks at it again."""
    platform = make_platform()
    dead = dead_run(platform)
    sweeper = platform.engine.sweeper
    storage = platform.storage

    def database_blip(record):
        raise StorageUnavailable("database", "did not answer")

    sweeper.storage = StorageWith(storage, NodesWith(storage.node_executions, database_blip))
    try:
        sweeper.sweep()
    except StorageUnavailable:
        pass  # the sweeper's thread logs it and tries again next round
    sweeper.storage = storage
    # a later round, the database back, once the lease the cut-short round took expired
    sweeper.sweep(utcnow() + timedelta(seconds=FAST.lease_seconds + 1))
    assert storage.executions.get(dead.id).status == "crashed"
    assert [n.status for n in platform.nodes_of(dead)] == ["success", "crashed"]


def test_a_stream_following_a_run_the_sweeper_crashes_gets_every_event(make_platform):
    """`GET .../events` promises every event once and in order. The sweeper stores the
     final `execution.crashed` before the `node_failed` of the node it ends
    : a stream reading between the two sees the final event, sends it
     and closes; the node's event, numbered before it, is never sent (a reconnect with
     `Last-Event-ID` = the final number gets nothing either)."""
    platform = make_platform()
    storage = platform.storage
    dead = dead_run(platform)
    lines, free = platform.executions.follow(platform.actor, dead.id, 0)
    sent: list[str] = []
    client = threading.Thread(target=lambda: sent.extend(lines), daemon=True)

    def update_while_the_client_reads(record):
        if client.ident is None:
            client.start()  # the client reads the stream meanwhile
            client.join(0.5)
        return storage.node_executions.update(record)

    sweeper = platform.engine.sweeper
    sweeper.storage = StorageWith(
        storage, NodesWith(storage.node_executions, update_while_the_client_reads)
    )
    sweeper.sweep()
    client.join(3)
    free()
    received = [int(line.split("\n", 1)[0][len("id: ") :]) for line in sent if line[:4] == "id: "]
    _, stored = platform.executions.events(platform.actor, dead.id)
    assert received == [event.seq for event in stored]


def test_the_sweeper_offers_other_workflows_queued_behind_a_blocked_backlog(make_platform):
    """After a restart the in-process queue has lost its deliveries and the sweeper is
    what offers queued executions again, a bounded number a round. When the oldest all
    belong to a workflow at its concurrency limit, each round would offer the same ones
    (each held back: no slot) and another workflow's execution would wait while the
    engine is idle: a round offers the oldest of each workflow first."""
    platform = make_platform()
    storage = platform.storage
    hot = platform.workflow([node("start", "manual")], concurrency=1)
    other = platform.workflow([node("start", "manual")])
    now = utcnow()
    storage.executions.add(  # the hot workflow's one slot, held by a live run elsewhere
        Execution(
            workflow_id=hot.id,
            user_id=platform.user.id,
            workflow_version=1,
            status="running",
            runner="another-process",
            lease_expires_at=now + timedelta(minutes=5),
            workflow_slot=0,
            global_slot=0,
            started_at=now,
            last_seq=1,
        )
    )
    long_ago = now - timedelta(minutes=10)
    for i in range(100):
        storage.executions.add(
            Execution(
                workflow_id=hot.id,
                user_id=platform.user.id,
                workflow_version=1,
                created_at=long_ago + timedelta(seconds=i),
            )
        )
    waiting = storage.executions.add(
        Execution(
            workflow_id=other.id,
            user_id=platform.user.id,
            workflow_version=1,
            created_at=long_ago + timedelta(seconds=200),
        )
    )
    for _ in range(3):
        platform.engine.sweeper.sweep()
        time.sleep(0.2)
    assert settled(platform, waiting, 1.0).status == "success"


# -- data limits --------------------------------------------------------------------------
def test_a_run_stores_no_more_than_its_data_limit(make_platform):
    """WF_EXECUTION_MAX_DATA_BYTES is "everything one execution stores". Each value cut
    is stored as a marker (`{"truncated": true, "bytes": ..., "limit": ...}`) that
    `DataBudget.keep` never counts: a chain of nodes past the limit
    stores several times the limit while the execution reports `data_bytes` 0."""
    platform = make_platform(max_output_bytes=200, max_data_bytes=1000)
    steps = [node(f"n{i}", "noop") for i in range(30)]
    flow = platform.workflow(
        [node("start", "manual"), *steps],
        [edge("start", "n0")] + [edge(f"n{i}", f"n{i + 1}") for i in range(29)],
    )
    done = platform.run(flow, {"blob": "x" * 150})
    assert done.status == "success"
    stored = sum(
        len(json.dumps(value, separators=(",", ":")).encode())
        for n in platform.nodes_of(done)
        for value in (n.input, n.output)
        if value is not None
    )
    assert stored <= 1000, (stored, done.data_bytes)


PAUSE = [node("start", "manual"), node("pause", "wait", seconds=30)]


def status(platform: Platform, execution) -> str:
    return platform.storage.executions.get(execution.id).status


def cancel_all(platform: Platform, *executions) -> None:
    for execution in executions:
        try:
            platform.executions.cancel(platform.actor, execution.id)
        except Conflict:
            pass


# -- concurrency limits --------------------------------------------------------------------
def test_a_huge_workflow_concurrency_does_not_stall_the_claim(make_platform):
    """Any user may store `settings.concurrency` (nothing checks it) and every claim of
    that workflow built a list of every slot number below it: time and memory grew with
    the number itself. 10**7 cost a second and
    ~400 MB per claim; 10**12 holds a worker thread (and its memory) for good, so a few
    runs stop the engine for every user. A claim must cost what the running runs cost."""
    platform = make_platform()
    flow = platform.workflow([node("start", "manual")], concurrency=10**12)
    assert platform.run(flow).status == "success"  # within the wait: no claim stalls


def test_a_lowered_workflow_limit_holds_back_a_run_beyond_it(make_platform):
    """docs/OPERATIONS.md: "A run beyond a limit stays queued". A user lowers
    `settings.concurrency` from 2 to 1 while the run in slot 1 goes on; the next run finds
    slot 0 free and takes it (`_free_slots` looks for a free slot number below the limit,
    never at how many runs hold one), so two run at once under a limit of 1."""
    platform = make_platform()
    flow = platform.workflow(PAUSE, [edge("start", "pause")], concurrency=2)
    first = platform.executions.execute(platform.actor, flow.id)
    until(lambda: status(platform, first) == "running")
    second = platform.executions.execute(platform.actor, flow.id)
    until(lambda: status(platform, second) == "running")
    platform.executions.cancel(platform.actor, first.id)  # frees slot 0
    until(lambda: platform.storage.executions.get(first.id).finished)
    platform.workflows.update(platform.actor, flow.id, {"settings": {"concurrency": 1}})
    third = platform.executions.execute(platform.actor, flow.id)
    try:
        time.sleep(0.4)
        assert len(platform.storage.executions.running(flow.id)) == 1
        assert status(platform, third) == "queued"
    finally:
        cancel_all(platform, second, third)


def test_a_concurrency_written_as_a_whole_float_is_a_limit(make_platform):
    """JSON has one number type, and the project reads 1.0 as the integer 1 elsewhere
    (`JsonInteger`: "3 and 3.0 alike"); a client that writes `"concurrency": 1.0` (Python's
    json.dumps of a float) is stored as given, and `Runner._workflow_limit`
    (`isinstance(given, int)`) silently reads it as no limit: two runs at once."""
    platform = make_platform()
    flow = platform.workflow(PAUSE, [edge("start", "pause")], concurrency=1.0)
    first = platform.executions.execute(platform.actor, flow.id)
    second = platform.executions.execute(platform.actor, flow.id)
    try:
        until(lambda: status(platform, first) == "running")
        time.sleep(0.3)
        assert status(platform, second) == "queued"
    finally:
        cancel_all(platform, first, second)


# -- engine semantics ----------------------------------------------------------------------
def test_if_tells_true_from_one(make_platform):
    """`equals` and `contains` compare with Python's `==` and `in` (nodes/core.py,
    `_holds`, `_contains`), where `True == 1`: an item `{"flag": true}` goes down the
    `flag equals 1` branch and `[true]` "contains" 1. JSON's true is not the number 1 (the
    project says so itself: `records._bool_for_number`), so a flag routes an order wrongly."""
    platform = make_platform()
    conditions = [
        {"left": "{{ $json.flag }}", "operator": "equals", "right": 1},
        {"left": "{{ $json.tags }}", "operator": "contains", "right": 1},
    ]
    flow = platform.workflow(
        [node("start", "manual"), node("check", "if", conditions=conditions, combine="any")],
        [edge("start", "check")],
    )
    given = [{"flag": True, "tags": []}, {"flag": False, "tags": [True]}]
    done = platform.run(flow, given)
    assert platform.nodes_of(done)[1].output == [[], given]


def test_a_retry_does_not_run_an_archived_workflow(make_platform):
    """`execute` refuses an archived workflow ("an archived workflow does not run: change
    its status first", 409), but `Executions.retry` (service.py) never looks at the
    workflow: archiving a workflow to stop it is bypassed by retrying any of its failed,
    crashed or cancelled runs."""
    platform = make_platform()
    flow = platform.workflow(
        [node("start", "manual"), node("boom", "fail")], [edge("start", "boom")]
    )
    failed = platform.run(flow)
    platform.workflows.update(platform.actor, flow.id, {"status": "archived"})
    with pytest.raises(Conflict):
        platform.executions.execute(platform.actor, flow.id)
    with pytest.raises(Conflict):
        platform.executions.retry(platform.actor, failed.id)


@pytest.mark.parametrize("depth", [31, 32])
def test_an_input_the_api_accepts_runs(make_app, depth):
    """The API accepts an input nested up to 32 levels (`ExecuteSchema`, `plain_json`) and
    answers 202, but the engine measures depth on what it stores around the item: the
    trigger's input `[item]` and output `[[item]]` are one and two levels deeper. At 31
    the trigger fails "its output cannot be kept: nested deeper than 32 levels" (no node
    nested anything); at 32 `_begin`'s `size_of(items)` raises `Unfit` outside the node's
    try and the run fails as "the engine failed (Unfit)", logged as an engine
    error. Either refuse the input (422) or run it."""
    app = make_app()
    client = app.test_client()
    auth = login(client, register(client)["email"])
    flow = workflow(client, auth, {"name": "Echo", "nodes": [{"id": "start", "type": "manual"}]})
    given: dict = {}
    for _ in range(depth):
        given = {"a": given}
    answer = execute(client, auth, flow, given)
    run = answer.get_json()
    assert answer.status_code == 422 or run["status"] == "success", run["error"]


# -- RQ --------------------------------------------------------------------------------------
def test_rq_offers_again_an_execution_whose_worker_stopped_before_it_ran(redis_url):
    """The sweeper offers queued executions again for "a delivery lost with a process". On
    RQ a worker stopped while it held the job (a cold shutdown raises SystemExit in a
    SimpleWorker's job; a killed worker's job is moved to the failed registry) leaves the
    job's hash behind for `failure_ttl`, a day (rq_queue.py, FAILED_JOBS_KEPT_SECONDS), and
    every re-offer meets `unique=True`, raises DuplicateJobError and is dropped as "its job
    is waiting or running": the execution stays queued for a day."""
    from wfplatform.executions.rq_queue import RqQueue

    url, prefix = redis_url
    queue = RqQueue(url, prefix)
    delivered: list[str] = []

    def runner(execution_id: str) -> None:
        delivered.append(execution_id)
        if len(delivered) == 1:
            raise SystemExit()  # the worker stops before it claimed the row

    try:
        queue.submit("e1")
        queue.work(runner, burst=True)
        queue.submit("e1")  # the sweeper: the row is still queued
        queue.work(runner, burst=True)
        assert delivered == ["e1", "e1"]
    finally:
        queue.close()


def test_a_walk_back_is_refused_while_rq_workers_run_the_executions(make_app, redis_url):
    """With WF_EXECUTION_QUEUE_URL the service and `flask wf worker` refuse to start while
    any repository keeps records in process memory (`bootstrap._check_execution_queue`):
    the workers read every record from the database. The same service accepts, at
    runtime, a switch into such a mode (`dual` reading the database with its fallback,
    then memory reads): nothing in `storage.switch` knows of the queue, so records
    written to the service's memory never reach the workers, and the service now runs in
    a configuration it refuses to start in."""
    url, prefix = redis_url
    app = make_app("database-only", WF_EXECUTION_QUEUE_URL=url, WF_EXECUTION_QUEUE_NAME=prefix)
    bootstrap._check_execution_queue(app)  # it may start: nothing is kept in memory
    storage = bootstrap.get_storage(app)
    with pytest.raises((DomainError, ConfigurationError)):
        storage.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    assert not bootstrap.needs_one_process(storage.current_modes())


# -- the sweeper -----------------------------------------------------------------------------
class _Delegate:
    def __init__(self, real, **replaced) -> None:
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_sweep_that_finds_the_lease_renewed_leaves_the_live_run_alone(make_platform):
    """docs/OPERATIONS.md: "never marks another process's live run dead: only an expired
    lease does". `Sweeper._crash` marks the run's running node executions `crashed` first
    and only then asks `claims.crash`, which sees the lease renewed since the sweeper's
    read (a renewal that ran late, e.g. on a slow database) and leaves the run: the live
    run's node is crashed all the same, its runner's end of the node conflicts, it stops
    as if it had lost its lease, and a healthy run ends `crashed` a lease later."""
    platform = make_platform(lease_seconds=30.0)
    storage = platform.storage
    flow = platform.workflow(
        [node("start", "manual"), node("pause", "wait", seconds=0.5), node("after", "noop")],
        [edge("start", "pause"), edge("pause", "after")],
    )
    run = platform.executions.execute(platform.actor, flow.id)
    until(lambda: [n.node_id for n in platform.nodes_of(run)] == ["start", "pause"])
    row = storage.executions.get(run.id)
    late = dataclasses.replace(  # its renewal is late: the lease ran out a moment ago
        row, lease_expires_at=utcnow() - timedelta(seconds=0.1), version=row.version + 1
    )
    storage.executions.update(late)
    claims = platform.engine.runner.claims

    def lease_expired(now, limit):
        found = storage.executions.lease_expired(now, limit)
        assert claims.renew(run.id, row.runner) is not None  # the renewal lands now
        return found

    sweeper = platform.engine.sweeper
    executions = _Delegate(storage.executions, lease_expired=lease_expired)
    sweeper.storage = _Delegate(storage, executions=executions)
    assert sweeper.sweep()["crashed"] == 0
    done = platform.executions.wait(run, 2)
    assert done.status == "success", [(n.node_id, n.status) for n in platform.nodes_of(done)]
