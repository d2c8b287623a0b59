"""`scripts/migrate_data.py` and `flask wf migrate-data`: one command, two sources.

    --url URL --token TOKEN   a running service backfills its live memory; we follow it
    --source FILE             offline: an export file's records into DATABASE_URL

Exit codes: 0 done, 2 a dry-run found conflicts or invalid records, 3 refused by a guard
(the schema is not at the latest revision, the adapter is not in dual, ...), 1 error."""

from __future__ import annotations

import sys

import click
from flask import current_app, has_app_context

from ..errors import DomainError, GuardRefused
from .migrator import ON_CONFLICT, Options
from .offline import offline_migrator
from .output import (
    EXIT_ERROR,
    ProgressBar,
    exit_code,
    print_report,
    print_rollback,
    refusal,
)
from .remote import Service, ServiceError


@click.command("migrate-data")
@click.option("--dry-run", "action", flag_value="dry_run", default=True, help="Report only.")
@click.option("--confirm", "action", flag_value="confirm", help="Copy, and record a run.")
@click.option("--rollback", "rollback_run", metavar="RUN_ID", help="Undo exactly that run.")
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted run.")
@click.option("--repositories", default="", help="Comma-separated; all when omitted.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--on-conflict", type=click.Choice(ON_CONFLICT), default="skip", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--force", is_flag=True, help="Rollback: undo rows changed since the run too.")
@click.option("--url", help="A running service, e.g. http://127.0.0.1:8000.")
@click.option("--token", envvar="WF_TOKEN", help="An admin's token or API key (or WF_TOKEN).")
@click.option("--source", type=click.Path(exists=True, dir_okay=False), help="An export file.")
def migrate_data(action, rollback_run, resume, repositories, batch_size, on_conflict, as_json,
                 force, url, token, source):  # fmt: skip
    """Backfill the records that exist only in memory into the database."""
    if bool(url) == bool(source):
        raise click.UsageError("choose --url (a running service) or --source (an export file)")
    if url and not token:
        raise click.UsageError("--url needs an admin's --token (or WF_TOKEN)")
    names = tuple(name.strip() for name in repositories.split(",") if name.strip())
    request = {
        "dry_run": action == "dry_run" and resume is None,
        "repositories": list(names),
        "batch_size": batch_size,
        "on_conflict": on_conflict,
        **({"resume": resume} if resume else {}),
    }
    run = _remote if url else _offline
    sys.exit(run(request, rollback_run, force, as_json, url=url, token=token, source=source))


def _remote(request, rollback_run, force, as_json, *, url, token, source) -> int:
    service = Service(url, token)
    try:
        if rollback_run:
            print_rollback(service.rollback(rollback_run, request["dry_run"], force), as_json)
            return 0
        progress = ProgressBar(enabled=not as_json)
        try:
            job = service.follow(service.start(request), progress.update)
        finally:
            progress.close()
    except ServiceError as error:
        if error.code == "guard_refused":
            return refusal(str(error), _reasons(error.details))
        click.echo(f"error: {error} ({error.status})", err=True)
        return EXIT_ERROR
    if job["state"] == "failed" and job.get("result") is None:
        click.echo(f"error: {job.get('error')}", err=True)
        return EXIT_ERROR
    print_report(job["result"], as_json)
    return exit_code(job["result"])


def _offline(request, rollback_run, force, as_json, *, url, token, source) -> int:
    from .. import create_app
    from ..storage_ext import get_storage

    app = current_app._get_current_object() if has_app_context() else create_app()
    with app.app_context():
        migrator, problems = offline_migrator(get_storage(app), source)
        options = Options(
            tuple(request["repositories"]), request["batch_size"], request["on_conflict"]
        )
        try:
            if rollback_run:
                print_rollback(
                    migrator.rollback(rollback_run, dry_run=request["dry_run"], force=force),
                    as_json,
                )
                return 0
            if request["dry_run"]:
                report = migrator.dry_run(options)
            else:
                report = migrator.confirm(options, "cli", resume=request.get("resume"))
        except GuardRefused as refused:
            return refusal(refused.message, _reasons(refused.details))
        except DomainError as error:
            click.echo(f"error: {error.message}", err=True)
            return EXIT_ERROR
    report["samples"] = problems + report["samples"]
    report["needs_attention"] = report["needs_attention"] or bool(problems)
    print_report(report, as_json)
    return exit_code(report)


def _reasons(details) -> list[str]:
    refused = (details or {}).get("refused", [])
    if isinstance(refused, dict):
        return [f"{name}: {reason}" for name, reasons in refused.items() for reason in reasons]
    return list(refused)
