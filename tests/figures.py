"""The figures docs/RELIABILITY.md quotes: a suite prints one line per run, shown with
`pytest -s` (`RELIABILITY <run> {json}`)."""

from __future__ import annotations

import json


def report(run: str, figures: dict) -> None:
    print(f"\nRELIABILITY {run} {json.dumps(figures, sort_keys=True)}")
