"""`scripts/bench.py` runs each of its measurements (on a few records: the figures
themselves are the script's to print, never asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import require_postgres
from tests.dependencies import ROOT

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    "arguments",
    [
        ["switch-pause", "--workflows", "200", "--executions", "200"],
        ["replay", "--entries", "50"],
    ],
    ids=lambda arguments: arguments[0],
)
def test_each_measurement_runs_to_its_figures(arguments):
    require_postgres()
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "target" in result.stdout
