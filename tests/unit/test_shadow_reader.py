"""The shadow reads' worker keeps to its share of one CPU: comparisons cannot crowd out the
requests that sampled them."""

from __future__ import annotations

import threading
import time

import pytest

from wfplatform.storage.shadow import FIRST_COST, ShadowReader


def burn(seconds: float) -> None:
    """CPU time on this thread (what the budget counts), not sleep."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


def test_the_first_comparison_waits_as_if_one_had_just_run() -> None:
    reader = ShadowReader(capacity=10, budget=0.2)
    started = []
    submitted = time.monotonic()
    try:
        reader.submit(lambda: started.append(time.monotonic()))
        reader.drain()
    finally:
        reader.close()
    # a burst of samples never runs at once: FIRST_COST at a fifth of a CPU, rested first
    assert started[0] - submitted >= FIRST_COST * 4 * 0.95


def test_before_each_comparison_the_worker_rests_in_proportion_to_the_last_ones_cpu() -> None:
    reader = ShadowReader(capacity=10, budget=0.2)
    finished, started = [], []
    try:
        reader.submit(lambda: (burn(0.05), finished.append(time.monotonic())))
        reader.submit(lambda: started.append(time.monotonic()))
        reader.drain()
    finally:
        reader.close()
    # 0.05 s of CPU at a fifth of a CPU: 0.2 s of rest before the next comparison
    assert started[0] - finished[0] >= 0.05 * 4 * 0.95


def test_what_the_budget_cannot_compare_is_dropped_once_the_queue_is_full() -> None:
    reader = ShadowReader(capacity=2, budget=0.01)
    try:
        accepted = [reader.submit(lambda: burn(0.01)) for _ in range(10)]
    finally:
        reader.close()
    assert accepted.count(False) >= 7


def test_closing_does_not_wait_out_the_rest() -> None:
    reader = ShadowReader(capacity=10, budget=0.01)
    done = threading.Event()
    reader.submit(lambda: (burn(0.05), done.set()))  # then 5 s of rest
    assert done.wait(5)
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("budget", [0, -0.5, 1.5])
def test_a_budget_is_a_share_of_one_cpu(budget: float) -> None:
    with pytest.raises(ValueError, match="share of one CPU"):
        ShadowReader(budget=budget)
