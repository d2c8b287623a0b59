"""migrate-data's exit codes for a rollback (offline: no --url, no --source)."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from tests.api.conftest import make_admin, register
from tests.api.test_cutover_api import app  # noqa: F401 (starts in memory-only)
from wfplatform.backfill.backfiller import Backfiller, Options
from wfplatform.cli.backfill import migrate_data


def run(*args: str):
    return CliRunner().invoke(migrate_data, list(args), catch_exceptions=False)


def test_a_rollback_preview_that_finds_changed_rows_exits_2(app, client):  # noqa: F811
    """Exit codes: 2 when a dry-run found conflicts. A rollback preview that finds rows
    changed since the run (they would be kept, the run would not be rolled back) exits 2,
    so a script can tell it from a clean one."""
    admin = make_admin(app, client)
    register(client)
    client.put("/admin/migration/mode", json={"mode": "dual", "reason": "go"}, headers=admin)
    storage = app.extensions["wf_storage"]
    run_id = Backfiller(storage).confirm(Options(repositories=("users",)), "ops")["run"]["id"]
    person = next(user for user in storage.users.list().items if user.role == "user")
    storage.users.update(dataclasses.replace(person, name="changed since the run"))

    with app.app_context():
        preview = run("--rollback", run_id, "--dry-run")

    assert "kept" in preview.output, preview.output
    assert preview.exit_code == 2, preview.output
