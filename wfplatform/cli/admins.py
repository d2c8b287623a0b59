"""`flask wf create-admin`: the first admin, usable in every storage mode."""

from __future__ import annotations

import click

from ..bootstrap import get_storage, services
from ..services import admins
from .operator import operator
from .output import reported_errors


@click.command("create-admin")
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
    with reported_errors():
        admin = admins.ensure_admin(
            get_storage(), services().passwords, email, password, promote=promote, actor=operator()
        )
    click.echo(f"admin {admin.email} ({admin.id}) is ready")


COMMANDS = [create_admin_command]
