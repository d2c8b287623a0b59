"""The fresh installs start when the run does (see tests/e2e/installs.py)."""

from __future__ import annotations

import pytest

from tests.e2e import installs


def pytest_collection_finish(session: pytest.Session) -> None:
    installs.start_asked(session)


def pytest_sessionfinish(session: pytest.Session) -> None:
    installs.stop_started(session)
