"""What the migrate-data command prints: a progress bar on a terminal, then a table per
repository, or the report as JSON."""

from __future__ import annotations

import json
import sys

import click

from ..repositories import NAMES
from .classify import ACTIONS

EXIT_DONE, EXIT_ERROR, EXIT_ATTENTION, EXIT_REFUSED = 0, 1, 2, 3


class ProgressBar:
    """Progress of a job (done/total, rate, ETA) on stderr, only when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None
        self._shown = 0

    def update(self, job: dict) -> None:
        if not self.enabled:
            return
        progress = job.get("progress") or {}
        total, done = progress.get("total", 0), progress.get("done", 0)
        if self._bar is None and total:
            self._bar = click.progressbar(
                length=total, label="migrating", show_eta=True, show_pos=True, file=sys.stderr
            )
            self._bar.__enter__()
        if self._bar is not None:
            self._bar.label = f"migrating ({job.get('rate_per_second', 0):.0f}/s)"
            self._bar.update(done - self._shown)
            self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def print_report(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    run = report.get("run") or {}
    title = "dry run" if report.get("dry_run") else f"run {run.get('id')} ({run.get('state')})"
    click.echo(title)
    if run.get("error"):
        click.echo(f"stopped: {run['error']}")
    header = (
        f"{'repository':<20}" + "".join(f"{action:>11}" for action in ACTIONS) + f"{'written':>10}"
    )
    click.echo(header)
    counts_by_name = report.get("repositories", {})
    for name in sorted(counts_by_name, key=NAMES.index):  # parents first, as the run walks them
        counts = counts_by_name[name]
        row = f"{name:<20}" + "".join(f"{counts.get(action, 0):>11}" for action in ACTIONS)
        click.echo(row + f"{report.get('written', {}).get(name, 0):>10}")
    for sample in report.get("samples", []):
        click.echo(
            f"  {sample['action']}: {sample['repository']} {sample['id']}: {sample['reason']}"
        )
    if report.get("needs_attention"):
        click.echo("conflicts or invalid records: resolve them, or they stay behind")


def print_rollback(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    verb = "would undo" if result.get("dry_run") else "undid"
    for name, count in result.get("undone", {}).items():
        click.echo(f"{verb} {count} {name}")
    for conflict in result.get("conflicts", []):
        click.echo(f"  kept {conflict['repository']} {conflict['id']}: {conflict['reason']}")
    if result.get("conflict_count"):
        click.echo(
            f"{result['conflict_count']} rows changed since the run: kept (--force undoes them)"
        )


def exit_code(report: dict) -> int:
    run = report.get("run") or {}
    if run.get("state") == "failed":
        return EXIT_ERROR
    if report.get("dry_run") and report.get("needs_attention"):
        return EXIT_ATTENTION
    return EXIT_DONE


def rollback_exit_code(result: dict) -> int:
    """2 when rows changed since the run are (or would be) kept: the run is not gone."""
    return EXIT_ATTENTION if result.get("conflict_count") else EXIT_DONE


def refusal(message: str, reasons: list[str]) -> int:
    click.echo(f"refused: {message}", err=True)
    for reason in reasons:
        click.echo(f"  - {reason}", err=True)
    return EXIT_REFUSED
