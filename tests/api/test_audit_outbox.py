"""The audit outbox when a command runs beside the server: `flask wf ...` is a process of
its own on the server's database, with a memory of its own. An audit entry it leaves in
the outbox must reach the server's audit log wherever that log keeps its records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.api.conftest import app_config
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.bootstrap import get_storage, services
from wfplatform.repositories.audit import AuditQuery
from wfplatform.storage.audit_outbox import AuditOutbox
from wfplatform.storage.modes import MEMORY

ACTIONS = ["storage.mode_change", "user.create_admin"]
START = {
    "memory-only": ("memory-only", None),
    "dual-read-memory": ("dual", "memory"),
    "dual-read-database": ("dual", "database"),
    "database-only": ("database-only", None),
}


def command(action: str, mode: tuple[str, str | None]) -> list[str]:
    if action == "user.create_admin":
        return ["create-admin", "--email", "ops@example.com", "--password", "admin password"]
    name, read_from = mode  # a new shadow rate: a switch in any mode, no guard against it
    where = ["--read-from", read_from] if read_from else []
    return ["mode", "set", name, *where, "--shadow-rate", "0.5", "--reason", "sample reads"]


def app_in(mode: tuple[str, str | None], database_url: str, folder) -> Flask:
    folder.mkdir()
    config = app_config(database_url, *mode, folder)
    return create_app(config, instance_path=str(folder / "instance"))


@pytest.fixture(params=list(START))
def server_and_command(request, engine, database_url, tmp_path) -> Iterator[tuple]:
    """The serving process and a command's process, both in the mode `request.param`."""
    mode = START[request.param]
    server = app_in(mode, database_url, tmp_path / "server")
    command = app_in(mode, database_url, tmp_path / "command")
    get_storage(server)  # the server runs before the command does
    yield server, command, mode
    close_app(command)
    close_app(server)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_entry_a_command_leaves_in_the_outbox_reaches_the_servers_audit_log(
    server_and_command, action
):
    """The command delivers the entry to its own audit log; where that log is process
    memory, the entry goes when the command ends, so the outbox keeps it for the server."""
    server, beside, mode = server_and_command
    result = beside.test_cli_runner().invoke(args=["wf", *command(action, mode)])
    assert result.exit_code == 0, result.output

    get_storage(server).follow_mode_changes()  # what the server's worker does every second
    entries = services(server).audit.list(AuditQuery(action=action)).items
    assert [entry.user_agent.startswith("cli:") for entry in entries] == [True]
    again = services(server).audit.list(AuditQuery(action=action)).items
    assert again == entries  # delivered once


def test_the_outbox_lets_an_entry_go_once_the_audit_log_is_read_from_the_database(
    server_and_command,
):
    server, beside, mode = server_and_command
    result = beside.test_cli_runner().invoke(args=["wf", *command("storage.mode_change", mode)])
    assert result.exit_code == 0, result.output
    services(server).audit.deliver()

    storage = get_storage(server)
    waiting = AuditOutbox(storage.control_plane_engine).waiting()
    assert bool(waiting) == (storage.serving_mode("audit_logs").primary == MEMORY)
