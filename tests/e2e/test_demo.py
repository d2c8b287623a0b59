"""The README's cut-over walkthrough, run unattended by scripts/demo_cutover.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_walkthrough_does_what_the_readme_says():
    result = subprocess.run(
        ["bash", "scripts/demo_cutover.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "The cut-over walkthrough did what the README says." in result.stdout
