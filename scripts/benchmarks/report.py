"""The rows every benchmark reports, the table they print as, and the JSON they write.

A row is one figure beside its anchor, measured in the same run: the ratio between them,
the target the ratio must meet (when there is one) and whether it did."""

from __future__ import annotations

import json
import operator
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

COMPARISONS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """What the ratio must be, `ratio <op> bound`, shown as `text` (e.g. "≥ 20× faster");
    with `of_figure`, what the figure itself must be (a pause in milliseconds)."""

    op: str
    bound: float
    text: str = ""
    of_figure: bool = False

    def met(self, ratio: float) -> bool:
        return COMPARISONS[self.op](ratio, self.bound)

    def __str__(self) -> str:
        return self.text or f"{self.op.replace('>=', '≥').replace('<=', '≤')} {self.bound:g}"


@dataclass
class Row:
    benchmark: str
    name: str
    figure: float
    anchor: float | None = None
    unit: str = ""
    ratio: float | None = None
    target: Target | None = None
    note: str = ""
    passed: bool | None = field(init=False)

    def __post_init__(self) -> None:
        if self.ratio is None and self.anchor:
            self.ratio = self.figure / self.anchor
        checked = self.figure if self.target and self.target.of_figure else self.ratio
        met = self.target is not None and checked is not None
        self.passed = self.target.met(checked) if met else None


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def interleaved(cases: dict[Any, Callable[[], Any]], repeat: int) -> dict[Any, list[Any]]:
    """Each case once per repetition, the order rotating, so a drift of the machine (another
    process, a warming cache) falls on every case alike. With several repetitions, a first
    round is run and thrown away: the first call of anything pays for cold caches."""
    results: dict[Any, list[Any]] = {label: [] for label in cases}
    labels = list(cases)
    if repeat > 1:
        for label in labels:
            cases[label]()
    for repetition in range(repeat):
        shift = repetition % len(labels)
        for label in labels[shift:] + labels[:shift]:
            results[label].append(cases[label]())
    return results


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _verdict(row: Row) -> str:
    return "" if row.passed is None else ("pass" if row.passed else "FAIL")


HEADER = ("benchmark", "figure", "value", "anchor", "ratio", "target", "result")


def table(rows: list[Row]) -> str:
    """A Markdown table (what docs/PERFORMANCE.md keeps, readable in a terminal too)."""
    lines = [
        (
            row.benchmark,
            row.name + (f" ({row.note})" if row.note else ""),
            _number(row.figure, row.unit),
            _number(row.anchor, row.unit),
            "" if row.ratio is None else f"{row.ratio:.2f}",
            "" if row.target is None else str(row.target),
            _verdict(row),
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [HEADER, *lines]) for i in range(len(HEADER))]

    def line(cells) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(cells) for cells in lines)])


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def write_json(path: str, rows: list[Row], quick: bool) -> None:
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["scripts/bench.py", *sys.argv[1:]]),
        "quick": quick,
        "machine": machine(),
        "rows": [
            {**asdict(row), "target": None if row.target is None else str(row.target)}
            for row in rows
        ],
    }
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
