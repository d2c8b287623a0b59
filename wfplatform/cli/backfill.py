"""`flask wf migrate-data` and `scripts/migrate_data.py`: one command, two sources.

    --url URL                 a running service backfills its live memory; we follow it
                              (the admin's token from WF_TOKEN or --token-file FILE)
    --source FILE             offline: an export file's records into DATABASE_URL

Exit codes: 0 done, 2 a dry-run found conflicts or invalid records, 3 refused by a guard
(the schema is not at the latest revision, the adapter is not in dual, ...), 1 error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo

from ..backfill import guards
from ..backfill.backfiller import ON_CONFLICT, Backfiller, Options
from ..backfill.offline import load_export
from ..backfill.output import (
    EXIT_ERROR,
    ProgressBar,
    exit_code,
    print_report,
    print_rollback,
    refusal,
    rollback_exit_code,
)
from ..backfill.remote import Service, ServiceError, Unreachable
from ..bootstrap import get_storage
from ..errors import DomainError, GuardRefused, StorageUnavailable
from ..extensions import db
from ..observability import TracedBackfiller
from .operator import operator


class _Command(click.Command):
    """Usage errors exit 1 like any error: click's 2 would read as "a dry-run found
    conflicts" to a script checking the exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            error.exit_code = EXIT_ERROR
            raise


class _UsageError(click.UsageError):
    exit_code = EXIT_ERROR


@click.command("migrate-data", cls=_Command)
@click.option("--dry-run", is_flag=True, help="Report only (the default); --rollback: preview.")
@click.option("--confirm", is_flag=True, help="Copy, and record a run.")
@click.option("--rollback", "rollback_run", metavar="RUN_ID", help="Undo exactly that run.")
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted run (copies).")
@click.option("--repositories", default="", help="Comma-separated; all when omitted.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--on-conflict", type=click.Choice(ON_CONFLICT), default="skip", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--force", is_flag=True, help="Rollback: undo rows changed since the run too.")
@click.option("--url", help="A running service, e.g. http://127.0.0.1:8000.")
@click.option("--token", envvar="WF_TOKEN", help="An admin's token or API key (or WF_TOKEN).")
@click.option("--token-file", type=click.File(), help="Read the token from this file.")
@click.option("--source", type=click.Path(exists=True, dir_okay=False), help="An export file.")
def migrate_data(dry_run, confirm, rollback_run, resume, repositories, batch_size, on_conflict,
                 as_json, force, url, token, token_file, source):  # fmt: skip
    """Backfill the records that exist only in memory into the database."""
    token = _token(token, token_file)
    _check_usage(dry_run, confirm, rollback_run, resume, force, url, token, source)
    names = tuple(name.strip() for name in repositories.split(",") if name.strip())
    request = {
        "dry_run": not (confirm or resume or (rollback_run and not dry_run)),
        "repositories": list(names),
        "batch_size": batch_size,
        "on_conflict": on_conflict,
        **({"resume": resume} if resume else {}),
    }
    run = _remote if url else _offline
    sys.exit(run(request, rollback_run, force, as_json, url=url, token=token, source=source))


def _token(token: str | None, token_file) -> str | None:
    """WF_TOKEN or --token-file keep the token out of the process list; --token works but
    anyone on the machine can read it in `ps` (and the shell keeps it in its history)."""
    given = click.get_current_context().get_parameter_source("token")
    on_command_line = given is click.core.ParameterSource.COMMANDLINE
    if token_file is None:
        if on_command_line:
            click.echo(
                "warning: --token shows in the process list (ps) and the shell history: "
                "prefer WF_TOKEN or --token-file",
                err=True,
            )
        return token
    if on_command_line:
        raise _UsageError("--token and --token-file exclude each other")
    from_file = token_file.read().strip()
    if not from_file:
        raise _UsageError(f"the token file {token_file.name} is empty")
    return from_file


def _check_usage(dry_run, confirm, rollback_run, resume, force, url, token, source) -> None:
    problems = [
        (url and source, "choose one of --url (a running service) and --source (an export file)"),
        (not (url or source or rollback_run),
         "choose --url (a running service) or --source (an export file)"),
        (url and not token, "--url needs an admin's token: WF_TOKEN or --token-file"),
        (dry_run and confirm, "--dry-run and --confirm exclude each other"),
        (resume and dry_run, "--resume copies: it cannot be a --dry-run"),
        (resume and rollback_run, "--resume and --rollback exclude each other"),
        (force and not rollback_run, "--force applies to --rollback only"),
    ]  # fmt: skip
    for problem, message in problems:
        if problem:
            raise _UsageError(message)


def _remote(request, rollback_run, force, as_json, *, url, token, source) -> int:
    service = Service(url, token)
    try:
        if rollback_run:
            location = service.rollback(rollback_run, request["dry_run"], force)
        else:
            location = service.start(request)
        progress = ProgressBar(enabled=not as_json and not rollback_run)
        try:
            job = service.follow(location, progress.update)
        finally:
            progress.close()
    except ServiceError as error:
        if error.code == "guard_refused":
            return refusal(str(error), _reasons(error.details))
        click.echo(f"error: {error} ({error.status})", err=True)
        if error.details:
            click.echo(json.dumps(error.details, indent=2), err=True)
        return EXIT_ERROR
    except Unreachable as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_ERROR
    if job["state"] != "completed" and job.get("result") is None:
        click.echo(f"error: the job is {job['state']}: {job.get('error')}", err=True)
        return EXIT_ERROR
    if rollback_run:
        print_rollback(job["result"], as_json)
        return rollback_exit_code(job["result"])
    print_report(job["result"], as_json)
    return exit_code(job["result"])


def _offline(request, rollback_run, force, as_json, *, url, token, source) -> int:
    app = _app()
    with app.app_context():
        try:
            return _run_offline(app, request, rollback_run, force, as_json, source)
        except GuardRefused as refused:
            return refusal(refused.message, _reasons(refused.details))
        except (DomainError, StorageUnavailable) as error:
            click.echo(f"error: {error.message}", err=True)
            return EXIT_ERROR


def _app() -> Flask:
    """The app of `flask wf migrate-data`, or the one `scripts/migrate_data.py` hands over
    (as `ScriptInfo`, the way the Flask CLI finds its app)."""
    if has_app_context():
        return current_app._get_current_object()
    return click.get_current_context().ensure_object(ScriptInfo).load_app()


def _run_offline(app, request, rollback_run, force, as_json, source) -> int:
    refused = guards.schema_refusal(db.engine)
    if refused:
        return refusal("the database is not ready", [refused])
    storage = get_storage(app)
    if rollback_run:
        backfiller = Backfiller(storage, source="cli")
        result = backfiller.rollback(rollback_run, dry_run=request["dry_run"], force=force)
        print_rollback(result, as_json)
        return rollback_exit_code(result)
    problems = load_export(storage, source)  # nothing else is in memory offline
    backfiller = TracedBackfiller(storage, None, source=f"file:{Path(source).name}")
    options = Options(tuple(request["repositories"]), request["batch_size"], request["on_conflict"])
    if request["dry_run"]:
        report = backfiller.dry_run(options)
    else:
        report = backfiller.confirm(options, operator().label, resume=request.get("resume"))
    for problem in problems:  # records of the file that do not decode are invalid too
        counts = report["repositories"].get(problem["repository"])
        if counts is not None:
            counts["invalid"] += 1
    report["samples"] = problems + report["samples"]
    report["needs_attention"] = report["needs_attention"] or bool(problems)
    print_report(report, as_json)
    return exit_code(report)


def _reasons(details) -> list[str]:
    refused = (details or {}).get("refused", [])
    if isinstance(refused, dict):
        return [f"{name}: {reason}" for name, reasons in refused.items() for reason in reasons]
    return list(refused)


COMMANDS = [migrate_data]
