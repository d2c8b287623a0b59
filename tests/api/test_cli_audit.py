"""`flask wf ...` commands are audited like the admin API, and every audit entry a command
writes names the OS user who ran it."""

from __future__ import annotations

import getpass

import pytest

from tests.api.conftest import MODES
from tests.factories import make_user, make_version, make_workflow
from wfplatform.bootstrap import get_storage, services
from wfplatform.repositories.audit import AuditQuery

OPERATOR = f"cli:{getpass.getuser()}"


# conftest's `app`, in memory-only only
pytestmark = pytest.mark.parametrize("app", [MODES[0]], indirect=True)


def audit_entries(app) -> dict:
    return {
        entry.id: entry for entry in get_storage(app).audit_logs.list(AuditQuery(limit=1000)).items
    }


def plant_an_orphan(app) -> None:
    """A version whose workflow is stored nowhere: what `check-integrity --fix` removes."""
    orphan = make_version(make_workflow(make_user()), 1)
    get_storage(app).in_memory("workflow_versions").upsert(orphan)


def test_every_audit_entry_a_command_writes_names_the_os_user(app, tmp_path):
    export = str(tmp_path / "export.json")
    commands = [
        (None, ["create-admin", "--email", "ops@example.com", "--password", "admin password"]),
        (None, ["mode", "set", "dual", "--reason", "start the cut-over"]),
        (None, ["export", export]),
        (None, ["import", export]),
        (plant_an_orphan, ["check-integrity", "--fix"]),
    ]
    runner = app.test_cli_runner()
    for prepare, args in commands:
        if prepare is not None:
            prepare(app)
        before = audit_entries(app)
        result = runner.invoke(args=["wf", *args])
        assert result.exit_code == 0, (args, result.output)
        written = [entry for key, entry in audit_entries(app).items() if key not in before]
        assert written, f"flask wf {' '.join(args)} wrote no audit entry"
        assert {entry.user_agent for entry in written} == {OPERATOR}, args
        assert {entry.actor_id for entry in written} == {None}, args


def test_a_switch_from_the_cli_keeps_its_audit_entry_when_the_command_dies_after_it(
    app, monkeypatch
):
    class CommandDied(Exception):
        pass

    def dies(work):
        raise CommandDied

    runner = app.test_cli_runner()
    with monkeypatch.context() as patched:
        patched.setattr(get_storage(app), "atomic", dies)  # the audit log's write
        died = runner.invoke(args=["wf", "mode", "set", "dual", "--reason", "cut-over"])
    assert isinstance(died.exception, CommandDied)

    assert get_storage(app).parts.modes.get("users").label() == "dual(read_from=memory)"
    (entry,) = services(app).audit.list(AuditQuery(action="storage.mode_change")).items
    assert (entry.user_agent, entry.changes["via"]) == (OPERATOR, "cli")


def test_a_backfill_run_started_from_the_cli_names_the_os_user(app, tmp_path):
    """The backfill's run history says who started a run, as the audit log does."""
    from wfplatform.backfill.runs import RunStore

    storage = get_storage(app)
    storage.users.add(make_user())
    export = str(tmp_path / "export.json")
    runner = app.test_cli_runner()
    for args in (["export", export], ["mode", "set", "dual", "--reason", "x"],
                 ["migrate-data", "--source", export, "--confirm"]):  # fmt: skip
        result = runner.invoke(args=["wf", *args])
        assert result.exit_code == 0, (args, result.output)

    (run,) = RunStore(storage.control_plane_engine).list()
    assert run["created_by"] == OPERATOR


@pytest.mark.parametrize(
    "args",
    [
        ["create-admin", "--email", "ops@example.com", "--password", "admin password"],
        ["mode", "set", "dual", "--reason", "start the cut-over"],
    ],
    ids=["create-admin", "mode set"],
)
def test_an_os_user_name_that_is_not_utf_8_is_named_with_its_bytes_replaced(app, monkeypatch, args):
    """Python hands an environment's undecodable bytes over as lone surrogates, which no
    backend stores: the command still runs and is audited, and the audit log stays
    readable (an entry no backend takes would fail every read of it, and every start)."""
    monkeypatch.setenv("LOGNAME", "ops\udcff")  # what b"ops\xff" decodes to
    result = app.test_cli_runner().invoke(args=["wf", *args])
    assert result.exit_code == 0, (result.output, result.exception)

    entries = services(app).audit.list(AuditQuery(limit=1000)).items
    assert [entry.user_agent for entry in entries] == ["cli:ops\ufffd"]


def test_workers_says_one_until_no_repository_keeps_records_in_process_memory(app):
    """`scripts/serve.sh` starts as many gunicorn workers as `flask wf workers` prints."""
    import os

    runner = app.test_cli_runner()
    steps = [
        ([], "1"),  # memory-only
        (["dual", "--reason", "x"], "1"),
        (["dual", "--read-from", "database", "--reason", "x"], "1"),  # it falls back
        (["dual", "--read-from", "database", "--no-fallback", "--reason", "x"], None),
        (["database-only", "--reason", "x"], None),
    ]
    per_cpu = str(len(os.sched_getaffinity(0)))
    for switch, workers in steps:
        if switch:
            result = runner.invoke(args=["wf", "mode", "set", *switch, "--force"])
            assert result.exit_code == 0, result.output
        result = runner.invoke(args=["wf", "workers"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == (workers or per_cpu), switch
