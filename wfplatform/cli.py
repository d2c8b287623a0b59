"""`flask wf ...`: operator commands, with the same guards and audit as the admin API."""

from __future__ import annotations

import getpass
import json

import click
from flask import Flask
from flask.cli import AppGroup

from .backfill.command import migrate_data
from .bootstrap import get_storage, services
from .cli_backup import register as register_backup_commands
from .domain.text import problem
from .errors import DomainError
from .services import admins, audit
from .services.context import Actor
from .storage.modes import DATABASE, MEMORY, Mode


class TextCheckedGroup(AppGroup):
    """Every argument of every command below it is text every backend can store (see
    `domain.text`): Python hands undecodable bytes of argv over as lone surrogates."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for position, argument in enumerate(args, start=1):
            unstorable = problem(argument)
            if unstorable:
                raise click.UsageError(f"argument {position} holds {unstorable}", ctx)
        return super().parse_args(ctx, args)


wf = TextCheckedGroup("wf", help="wfplatform operations.")
mode = AppGroup("mode", help="Show or switch the storage modes.")
wf.add_command(mode)
register_backup_commands(wf)  # export, import, check-integrity
wf.add_command(migrate_data)


def _echo(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


@mode.command("show")
def mode_show() -> None:
    """Modes, settings, journal and stats of every repository."""
    _echo(get_storage().describe())


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
    storage = get_storage()
    try:
        result = storage.switch(
            target,
            read_from=read_from,
            repositories=repositories or None,
            shadow_rate=shadow_rate,
            fallback=fallback,
            reason=reason,
            actor=_cli_actor(),
            force=force,
            dry_run=dry_run,
        )
    except DomainError as error:
        raise click.ClickException(json.dumps(error.to_dict(), indent=2)) from error
    if not dry_run:
        changes = {"modes": result["modes"], "forced": result["forced"], "via": "cli"}
        storage.atomic(
            lambda uow: audit.record(
                uow,
                Actor(user_id=None, role="admin"),
                "storage.mode_change",
                "storage",
                None,
                changes,
            )
        )
    _echo(result)


@wf.command("readiness")
def readiness_command() -> None:
    """Whether each next step is safe now, per repository, and why not."""
    storage = get_storage()
    _echo({name: storage.readiness(name) for name in storage.bindings})


@wf.command("verify")
@click.option("--repository", "repositories", multiple=True, help="Limit to these.")
def verify_command(repositories: tuple[str, ...]) -> None:
    """Compare memory and the database completely."""
    _echo(get_storage().verify(repositories or None))


@wf.command("sync")
def sync_command() -> None:
    """Replay the sync journal now."""
    _echo(get_storage().replay_journal())


@wf.command("load-memory")
@click.option("--repository", "repositories", multiple=True, help="Limit to these.")
@click.option("--force", is_flag=True, help="Also where memory is the primary copy.")
def load_memory_command(repositories: tuple[str, ...], force: bool) -> None:
    """Make memory equal to the database (before reads move back to memory). Memory is
    per process: run this in the serving process's place, i.e. through the admin API."""
    storage = get_storage()
    try:
        _echo(storage.reload_memory(repositories or storage.bindings, force=force))
    except DomainError as error:
        raise click.ClickException(json.dumps(error.to_dict(), indent=2)) from error


@wf.command("create-admin")
@click.option("--email", required=True)
@click.option(
    "--password",
    envvar="WF_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given (or read from WF_ADMIN_PASSWORD).",
)
@click.option(
    "--promote",
    is_flag=True,
    help="Make an existing account an admin: its API keys and sessions are revoked.",
)
def create_admin_command(email: str, password: str, promote: bool) -> None:
    """Create an admin (or reset an admin's password), usable in every storage mode; an
    existing account that is not an admin only with --promote."""
    actor = Actor(user_id=None, role="admin", user_agent=_cli_actor())
    try:
        admin = admins.ensure_admin(
            get_storage(), services().passwords, email, password, promote=promote, actor=actor
        )
    except DomainError as error:
        raise click.ClickException(json.dumps(error.to_dict())) from error
    click.echo(f"admin {admin.email} ({admin.id}) is ready")


def init_app(app: Flask) -> None:
    app.cli.add_command(wf)
