"""`flask wf worker`: run executions from the RQ queue in this process."""

from __future__ import annotations

import click
from flask import current_app

from ..bootstrap import start_worker
from ..config import ConfigurationError


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
def worker_command(burst: bool) -> None:
    """Run executions from the RQ queue WF_EXECUTION_QUEUE_URL names, one at a time, with
    the app's settings (start as many as the machines allow, here or elsewhere). Refused
    while any repository keeps records in process memory."""
    try:
        engine = start_worker(current_app._get_current_object())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"worker {engine.runner.name} takes executions", err=True)
    engine.queue.work(engine.runner.run, burst=burst)


COMMANDS = [worker_command]
