"""The benchmarks behind `scripts/bench.py`: one module per benchmark, each measuring its
figures beside their anchors in one run (see each module's docstring), and `report` for
the table they share."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from . import adapter, backfill, executions, http_load, scale, switch_pause
from .postgres import Databases
from .report import Row, machine, table, write_json

# benchmark -> (full sizes, quick sizes); every size is a keyword of the benchmark
SIZES: dict[str, tuple[dict, dict]] = {
    "http": (
        {"seconds": 5.0, "repeat": 3},
        {"seconds": 1.0, "repeat": 1},
    ),
    "adapter": (
        {"counts": {"get": 300, "list": 20, "create": 40, "update": 40}, "repeat": 15},
        {"counts": {"get": 50, "list": 10, "create": 20, "update": 20}, "repeat": 1},
    ),
    "scale": (
        {"sizes": (1_000, 10_000, 100_000), "repeat": 5},
        {"sizes": (1_000,), "repeat": 1},
    ),
    "backfill": (
        {"count": 100_000, "repeat": 3},
        {"count": 1_000, "repeat": 1},
    ),
    "replay": (
        {"entries": 5_000, "repeat": 3},
        {"entries": 200, "repeat": 1},
    ),
    "switch-pause": (
        {"count": 100_000, "repeat": 2, "executions": 1_000_000},
        {"count": 1_000, "repeat": 1, "executions": 1_000},
    ),
    "executions": (
        {"count": 200, "repeat": 3, "executions": 1_000_000},
        {"count": 10, "repeat": 1, "executions": 2_000},
    ),
}
BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "http": http_load.http,
    "adapter": adapter.adapter,
    "scale": scale.scale,
    "backfill": backfill.backfill,
    "replay": backfill.replay,
    "switch-pause": switch_pause.switch_pause,
    "executions": executions.executions,
}
# bench.py's options -> the size they set, in the benchmarks that have it
OPTIONS = {
    "executions": "executions",
    "workflows": "count",
    "entries": "entries",
    "seconds": "seconds",
    "repeat": "repeat",
}


def _load() -> str:
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def run(names: list[str], *, quick: bool, json_path: str | None, overrides: dict) -> None:
    rows: list[Row] = []
    with Databases() as databases:
        for name in names:
            sizes = dict(SIZES[name][1 if quick else 0])
            for option, value in overrides.items():
                if OPTIONS[option] in sizes:
                    sizes[OPTIONS[option]] = value
            started = time.monotonic()
            print(f"==> {name} {sizes}, load average {_load()}", flush=True)
            found = BENCHMARKS[name](databases, **sizes)
            print(table(found), f"\n({time.monotonic() - started:.0f} s)\n", flush=True)
            rows += found
    print(f"machine: {machine()}")
    print(table(rows))
    if json_path:
        write_json(json_path, rows, quick)
