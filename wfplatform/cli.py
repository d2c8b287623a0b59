"""`flask wf ...`: operator commands (one group per area)."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from .api.services import services
from .errors import DomainError
from .services import admins
from .storage_ext import get_storage

wf = AppGroup("wf", help="wfplatform operations.")


@wf.command("verify")
@click.option("--repository", "repositories", multiple=True, help="Limit to these repositories.")
def verify_command(repositories: tuple[str, ...]) -> None:
    """Compare memory and the database completely."""
    report = get_storage().verify(repositories or None)
    click.echo(json.dumps(report, indent=2))


@wf.command("mode")
@click.argument("mode", required=False)
@click.option("--read-from", type=click.Choice(["memory", "database"]))
@click.option("--repository", "repositories", multiple=True)
@click.option("--reason", help="Why (kept in the mode history).")
@click.option("--actor", default="cli")
@click.option("--force", is_flag=True, help="Switch even though a guard refuses.")
def mode_command(mode, read_from, repositories, reason, actor, force) -> None:
    """Show the storage modes, or switch them: `flask wf mode dual --reason ...`."""
    storage = get_storage()
    if mode is None:
        click.echo(json.dumps(storage.describe(), indent=2, default=str))
        return
    try:
        result = storage.switch(
            mode,
            read_from=read_from,
            repositories=repositories or None,
            reason=reason or "",
            actor=actor,
            force=force,
        )
    except DomainError as error:
        raise click.ClickException(json.dumps(error.to_dict())) from error
    click.echo(json.dumps(result, indent=2))


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
def create_admin_command(email: str, password: str) -> None:
    """Create an admin (or make an existing account one), usable in every storage mode."""
    try:
        admin = admins.ensure_admin(get_storage(), services().passwords, email, password)
    except DomainError as error:
        raise click.ClickException(json.dumps(error.to_dict())) from error
    click.echo(f"admin {admin.email} ({admin.id}) is ready")


def init_app(app: Flask) -> None:
    app.cli.add_command(wf)
