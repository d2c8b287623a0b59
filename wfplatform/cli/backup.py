"""`flask wf export | import | check-integrity`: backup, restore and the integrity check.

Memory is per process: these commands see and change this command's own memory, not a
running server's. For repositories that keep records in memory, use the admin endpoints
(`GET /admin/export`, `POST /admin/import`, `POST /admin/integrity`) on the server; the
commands say so when it matters."""

from __future__ import annotations

import json
import os
import sys

import click

from ..backup import check_integrity, import_export, write_export
from ..backup.export import record_export
from ..bootstrap import get_storage, services
from ..extensions import head_revision
from ..jobs import Job
from ..storage.adapter import Storage
from ..storage.modes import MEMORY, Mode
from ..storage.private_files import owner_only
from .operator import operator
from .output import reported_errors


def _warn_about_memory(names: list[str], endpoint: str) -> None:
    if names:
        click.echo(
            f"warning: {', '.join(names)} keep records in process memory, and this command "
            f"has its own: for a running server's records use {endpoint} on the server",
            err=True,
        )


def _reading_memory(storage: Storage) -> list[str]:
    return [name for name, mode in storage.current_modes().items() if mode.primary == MEMORY]


def _using_memory(storage: Storage) -> list[str]:
    modes = storage.current_modes()
    return [name for name, mode in modes.items() if mode.mode is not Mode.DATABASE_ONLY]


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def export_command(file: str) -> None:
    """Write every repository to FILE ('-': standard output) as one export document."""
    storage = get_storage()
    _warn_about_memory(_reading_memory(storage), "GET /admin/export")
    with reported_errors():
        if file == "-":
            with click.open_file("-", "w", encoding="utf-8") as stream:
                counts = write_export(storage, stream, head_revision())
        else:
            try:
                counts = _export_to_file(storage, file)
            except OSError as error:
                raise click.ClickException(f"cannot write {file}: {error.strerror}") from None
        record_export(storage, operator(), "cli")
    click.echo(json.dumps({"file": file, "records": counts}), err=True)


def _export_to_file(storage: Storage, file: str) -> dict[str, int]:
    """Written beside FILE first and renamed when complete: FILE is never a partial export."""
    partial = f"{file}.partial"
    try:
        with open(partial, "w", encoding="utf-8", opener=owner_only) as stream:
            counts = write_export(storage, stream, head_revision())
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, file)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return counts


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and count; write nothing.")
@click.option("--force", is_flag=True, help="Import the valid records when some are not.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show the phase, records done, rate and ETA on stderr (default: on a terminal).",
)
def import_command(
    file: str, dry_run: bool, force: bool, batch_size: int, progress: bool | None
) -> None:
    """Restore an export document: validate it all, then write it parents first in units
    of work (every mode and dual replication apply). Refused when records are invalid,
    unless --force."""
    storage = get_storage()
    if not dry_run:
        _warn_about_memory(_using_memory(storage), "POST /admin/import")
    shown = _progress_line() if (sys.stderr.isatty() if progress is None else progress) else None
    try:
        with reported_errors():
            report = import_export(
                storage,
                file,
                dry_run=dry_run,
                force=force,
                schema_revision=head_revision(),
                actor=operator(),
                batch_size=batch_size,
                progress=shown,
                checks=services().credentials.import_problems,
            )
    finally:
        if shown is not None:
            click.echo(err=True)
    click.echo(json.dumps(report, indent=2, default=str))


def _progress_line() -> Job:
    """A job that is only shown: one line on stderr, rewritten as the import advances."""

    def show(job: Job) -> None:
        described = job.describe()
        done, total = described["progress"]["done"], described["progress"]["total"]
        eta = f", {described['eta_seconds']:.0f}s left" if described["eta_seconds"] else ""
        click.echo(
            f"\r{described['phase']}: {done}{f' of {total}' if total else ''} records "
            f"({described['rate_per_second']:.0f}/s{eta})\x1b[K",
            nl=False,
            err=True,
        )

    return Job("import", "cli", operator().label, {}, on_advance=show)


@click.command("check-integrity")
@click.option("--fix", is_flag=True, help="Remove orphans whose parent is gone everywhere.")
@click.option("--repository", "repositories", multiple=True, help="Only these (repeatable).")
def check_integrity_command(fix: bool, repositories: tuple[str, ...]) -> None:
    """Find orphans, broken references, duplicate unique values and invalid records in
    every backend in use; exits 1 when problems remain."""
    storage = get_storage()
    known = storage.repository_names
    unknown = sorted(set(repositories) - set(known))
    if unknown:
        raise click.BadParameter(
            f"unknown repositories: {', '.join(unknown)} (known: {', '.join(known)})",
            param_hint="--repository",
        )
    _warn_about_memory(_using_memory(storage), "POST /admin/integrity")
    with reported_errors():
        report = check_integrity(storage, repositories or None, fix=fix, actor=operator())
    click.echo(json.dumps(report, indent=2, default=str))
    if report["problems"]:
        raise click.exceptions.Exit(1)


COMMANDS = [export_command, import_command, check_integrity_command]
