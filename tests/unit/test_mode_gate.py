"""The mode gate lets every switch in once the operations in flight are done, and lets the
operations it held go on after; a latency is counted in the first bucket that holds it."""

from __future__ import annotations

import math
import threading

import pytest

from wfplatform.storage.locks import ModeGate
from wfplatform.storage.stats import LATENCY_BUCKETS_MS, BackendStats


def test_a_switch_racing_many_operations_never_loses_its_wake_up():
    """An exit wakes a switch only when it is the last operation a switch waits for:
    hundreds of switches raced by busy operations each get in (a lost wake-up would make
    one time out)."""
    gate, stop = ModeGate(), threading.Event()
    done = [0] * 8

    def operations(index: int) -> None:
        while not stop.is_set():
            with gate.operation():
                done[index] += 1

    workers = [threading.Thread(target=operations, args=(n,), daemon=True) for n in range(8)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(300):
            with gate.switch(timeout=5.0):
                pass
    finally:
        stop.set()
        for worker in workers:
            worker.join(2)
    assert all(done), done  # operations ran between the switches: none starved


def test_operations_waiting_on_a_switch_resume_and_a_second_switch_follows():
    """operations held at the gate by a switch, and a second switch queued
    behind it, all proceed when it ends."""
    gate = ModeGate()
    entered, second = threading.Event(), threading.Event()

    def operation() -> None:
        with gate.operation():
            entered.set()

    def switch_again() -> None:
        with gate.switch(timeout=5.0):
            second.set()

    with gate.switch(timeout=5.0):
        threading.Thread(target=operation, daemon=True).start()
        threading.Thread(target=switch_again, daemon=True).start()
        assert not entered.wait(0.05)
    assert entered.wait(5) and second.wait(5)


def test_a_switch_waits_for_an_operation_that_outlives_its_start():
    """the last operation's exit is what lets a waiting switch in."""
    gate = ModeGate()
    inside, release, switched = threading.Event(), threading.Event(), threading.Event()

    def slow_operation() -> None:
        with gate.operation():
            inside.set()
            release.wait(2)

    threading.Thread(target=slow_operation, daemon=True).start()
    assert inside.wait(1)

    def switch() -> None:
        with gate.switch(timeout=2.0):
            switched.set()

    threading.Thread(target=switch, daemon=True).start()
    assert not switched.wait(0.05)
    release.set()
    assert switched.wait(5)


@pytest.mark.parametrize(
    ("elapsed_ms", "bucket"),
    [
        (0.0, 0),
        (-1.0, 0),
        (0.5, 0),
        (0.5000001, 1),
        (1, 1),
        (2500, 11),
        (2499.9, 11),
        (2500.1, None),
        (math.inf, None),
    ],
)
def test_a_latency_lands_in_the_first_bucket_whose_bound_holds_it(elapsed_ms, bucket):
    """the bisection counts as the loop it replaced did (`<=` the bound: a
    value exactly on a bound is in that bound's bucket; past the last, only in +Inf)."""
    stats = BackendStats()
    stats.observe("read", elapsed_ms)
    expected = [0] * len(LATENCY_BUCKETS_MS)
    if bucket is not None:
        expected[bucket] = 1
    assert stats.latency_buckets == expected
