"""One contract for every execution queue (in-process; RQ on the machine's Redis): what is
submitted is delivered to the runner, an id waiting or running is not delivered twice, a
runner that raises costs nothing but its own delivery, and an id delivered may be offered
again later (the sweeper does)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from wfplatform.executions.queue import InProcessQueue


class Deliveries:
    """The runner the queue delivers to: records ids, raises for the ones asked to."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.raising: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, execution_id: str) -> None:
        with self.lock:
            self.ids.append(execution_id)
        if execution_id in self.raising:
            raise RuntimeError("the runner failed")


class InProcess:
    def __init__(self, run: Callable[[str], None]) -> None:
        self.queue = InProcessQueue(run, workers=2)

    def drain(self, deliveries: Deliveries, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(deliveries.ids) < count or self.queue.depth():
            assert time.monotonic() < deadline, deliveries.ids
            time.sleep(0.01)


class OnRq:
    def __init__(self, run: Callable[[str], None], url: str, name: str) -> None:
        from wfplatform.executions.rq_queue import RqQueue

        self.queue = RqQueue(url, name)
        self.run = run

    def drain(self, deliveries: Deliveries, count: int) -> None:
        self.queue.work(self.run, burst=True)  # a worker in this thread, until it is empty


@pytest.fixture(params=["in-process", "rq"])
def backend(request):
    deliveries = Deliveries()
    if request.param == "rq":
        url, prefix = request.getfixturevalue("redis_url")
        made = OnRq(deliveries, url, prefix)
    else:
        made = InProcess(deliveries)
    yield made, deliveries
    made.queue.close()


def test_delivers_what_is_submitted(backend):
    made, deliveries = backend
    for n in range(3):
        made.queue.submit(f"e{n}")
    made.drain(deliveries, 3)
    assert sorted(deliveries.ids) == ["e0", "e1", "e2"]
    assert made.queue.depth() == 0


def test_an_id_waiting_is_not_delivered_twice(backend):
    made, deliveries = backend
    gate = threading.Event()
    if isinstance(made, InProcess):
        made.queue = InProcessQueue(lambda i: (gate.wait(5), deliveries(i)), workers=1)
    for _ in range(3):
        made.queue.submit("same")
    assert made.queue.depth() == 1
    gate.set()
    made.drain(deliveries, 1)
    assert deliveries.ids == ["same"]


def test_a_runner_that_raises_costs_only_its_own_delivery(backend):
    made, deliveries = backend
    deliveries.raising.add("bad")
    made.queue.submit("bad")
    made.queue.submit("good")
    made.drain(deliveries, 2)
    assert sorted(deliveries.ids) == ["bad", "good"]


def test_an_id_delivered_may_be_offered_again(backend):
    made, deliveries = backend
    made.queue.submit("again")
    made.drain(deliveries, 1)
    made.queue.submit("again")
    made.drain(deliveries, 2)
    assert deliveries.ids == ["again", "again"]


def test_an_unreachable_redis_leaves_the_execution_to_the_sweeper(caplog):
    """The row is recorded before the id is queued: a queue that does not answer costs a
    log line, never the request (the sweeper offers queued executions again)."""
    from wfplatform.executions.rq_queue import RqQueue

    queue = RqQueue("redis://127.0.0.1:1/0")  # nothing listens there
    queue.submit("waiting")
    assert "the execution queue does not answer" in caplog.text
    queue.close()
