"""A second review of the execution engine, written as failing tests (each names a defect)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.runs import FAST, Platform, edge, node, until


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


def test_a_huge_workflow_concurrency_does_not_stall_the_claim(make_platform):
    platform = make_platform()
    flow = platform.workflow([node("start", "manual")], concurrency=10**7)
    started = time.monotonic()
    done = platform.run(flow)
    took = time.monotonic() - started
    assert done.status == "success"
    assert took < 0.5, took
