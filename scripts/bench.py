#!/usr/bin/env python3
"""Benchmarks of the platform as users run it, each figure beside its anchor measured in
the same run, interleaved over several repetitions; printed as a table (figure, anchor,
ratio, target, pass/fail) and, with `--json FILE`, written as JSON. docs/PERFORMANCE.md
keeps the latest table, the machine and the commands.

    .venv/bin/python scripts/bench.py                      # every benchmark, full sizes
    .venv/bin/python scripts/bench.py http adapter         # some of them
    .venv/bin/python scripts/bench.py --quick              # small sizes, one short repetition
    .venv/bin/python scripts/bench.py backfill --workflows 100000 --json backfill.json

`--quick` (what CI runs) checks that every benchmark still runs; its figures mean nothing.
Each benchmark's module in scripts/benchmarks/ says what it measures. They need PostgreSQL
(`WF_BENCH_POSTGRES_URL`, default postgres@127.0.0.1:5432, trust auth), and `http` needs
`wrk` (`apt-get install -y wrk`). A failed target is reported, never an error: the exit
status says only whether the benchmarks ran."""

from __future__ import annotations

import argparse
import signal
import sys

from benchmarks import OPTIONS, SIZES, run


def main() -> None:
    # A stopped run still stops its servers and drops its databases (a background job
    # started by a shell ignores SIGINT, so SIGTERM is what stops it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help=f"any of {', '.join(SIZES)} (default: all)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, one short repetition")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--repeat", type=int, help="repetitions of each case")
    parser.add_argument("--workflows", type=int,
                        help="workflows of backfill and switch-pause (full: 100,000)")  # fmt: skip
    parser.add_argument("--entries", type=int, help="journal entries of replay (full: 5,000)")
    parser.add_argument("--executions", type=int,
                        help="rows of executions and switch-pause (full: 1,000,000)")  # fmt: skip
    parser.add_argument("--seconds", type=float, help="seconds of each wrk run (http)")
    args = parser.parse_args()
    unknown = sorted(set(args.benchmarks) - set(SIZES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(SIZES)}")
    run(
        args.benchmarks or list(SIZES),
        quick=args.quick,
        json_path=args.json,
        overrides={
            name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None
        },
    )


if __name__ == "__main__":
    main()
