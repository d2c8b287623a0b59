"""`flask wf mode show | mode set`, `readiness`, `verify`, `sync`, `load-memory`: the
cut-over's control plane, through `services.cutover` as the admin API."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from ..bootstrap import get_storage, services, stored_modes
from ..storage.modes import DATABASE, MEMORY, Mode, needs_one_process
from .operator import operator
from .output import echo_json, reported_errors

mode = AppGroup("mode", help="Show or switch the storage modes.")


@mode.command("show")
def mode_show() -> None:
    """Modes, settings, journal and stats of every repository."""
    echo_json(get_storage().describe())


@mode.command("set")
@click.argument("target", type=click.Choice([m.value for m in Mode]))
@click.option("--read-from", type=click.Choice([MEMORY, DATABASE]))
@click.option("--repository", "repositories", multiple=True, help="Only these (repeatable).")
@click.option("--shadow-rate", type=click.FloatRange(0, 1))
@click.option("--fallback/--no-fallback", default=None)
@click.option("--reason", required=True, help="Why (kept in the mode history).")
@click.option("--force", is_flag=True, help="Switch even though a guard refuses.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; switch nothing.")
def mode_set(target, read_from, repositories, shadow_rate, fallback, reason, force, dry_run):
    """Switch modes: `flask wf mode set dual --reason "start the cut-over"`."""
    with reported_errors():
        result = services().cutover.switch(
            operator(),
            target,
            reason=reason,
            via="cli",
            read_from=read_from,
            repositories=repositories or None,
            shadow_rate=shadow_rate,
            fallback=fallback,
            force=force,
            dry_run=dry_run,
        )
    echo_json(result)


@click.command("readiness")
def readiness_command() -> None:
    """Whether each next step is safe now, per repository, and why not."""
    echo_json(services().cutover.readiness())


@click.command("verify")
@click.option("--repository", "repositories", multiple=True, help="Limit to these.")
def verify_command(repositories: tuple[str, ...]) -> None:
    """Compare memory and the database completely."""
    echo_json(services().cutover.verify(repositories))


@click.command("sync")
def sync_command() -> None:
    """Replay the sync journal now."""
    echo_json(services().cutover.sync())


@click.command("load-memory")
@click.option("--repository", "repositories", multiple=True, help="Limit to these.")
@click.option("--force", is_flag=True, help="Also where memory is the primary copy.")
def load_memory_command(repositories: tuple[str, ...], force: bool) -> None:
    """Make memory equal to the database (before reads move back to memory). Memory is
    per process: run this in the serving process's place, i.e. through the admin API."""
    with reported_errors():
        echo_json(services().cutover.load_memory(repositories, force=force))


@click.command("workers")
def workers_command() -> None:
    """How many serving processes the stored modes allow: one while any repository keeps
    records in process memory, else one per CPU (`scripts/serve.sh` asks this)."""
    single = needs_one_process(stored_modes())
    count = 1 if single else len(os.sched_getaffinity(0))
    why = (
        f"{', '.join(single)} keep records in process memory"
        if single
        else "none keeps records in process memory"
    )
    click.echo(f"{count} worker(s): {why}", err=True)
    click.echo(count)


COMMANDS = [
    mode,
    readiness_command,
    verify_command,
    sync_command,
    load_memory_command,
    workers_command,
]
