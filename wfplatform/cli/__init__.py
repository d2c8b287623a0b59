"""`flask wf ...`: operator commands, one module per area, with the same guards and audit
as the admin API (through the same services); every audit entry a command writes names
the OS user who ran it (see `operator`)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from ..domain.text import problem
from . import admins, backfill, backup, cutover, executions, keys


class TextCheckedGroup(AppGroup):
    """Every argument of every command below it is text every backend can store (see
    `domain.text`): Python hands undecodable bytes of argv over as lone surrogates."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for position, argument in enumerate(args, start=1):
            unstorable = problem(argument)
            if unstorable:
                raise click.UsageError(f"argument {position} holds {unstorable}", ctx)
        return super().parse_args(ctx, args)


@click.group("wf", cls=TextCheckedGroup)
@with_appcontext  # for every command below it, however it is invoked
def wf() -> None:
    """wfplatform operations."""


for area in (cutover, admins, backup, backfill, keys, executions):
    for command in area.COMMANDS:
        wf.add_command(command)


def init_app(app: Flask) -> None:
    app.cli.add_command(wf)
