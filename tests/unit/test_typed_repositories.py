"""To a type checker (and so to an editor), `storage.users.add` is `UserRepository.add`: the
registry's lines are typed attributes of the adapter and of units of work, and a name that
is not a repository is an error, not a silently routed call."""

from __future__ import annotations

from pathlib import Path

from mypy import api as mypy

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = """
from wfplatform.storage.adapter import Storage
from wfplatform.storage.unit_of_work import UnitOfWork


def use(storage: Storage, uow: UnitOfWork) -> None:
    reveal_type(storage.users.add)
    reveal_type(uow.workflows.list)
    storage.user.add
"""


def test_a_type_checker_sees_each_repository_as_its_interface(tmp_path, monkeypatch):
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    monkeypatch.chdir(ROOT)  # mypy finds the package here
    out, err, _ = mypy.run(
        [
            "--no-site-packages",  # third-party types are not what this checks
            "--follow-imports=silent",
            "--ignore-missing-imports",
            f"--cache-dir={tmp_path / 'cache'}",
            str(snippet),
        ]
    )
    revealed = [
        line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed == [
        '"def (user: wfplatform.domain.users.User) -> wfplatform.domain.users.User"',
        '"def (query: wfplatform.repositories.workflows.WorkflowQuery) -> '
        'wfplatform.repositories.base.Page"',
    ], out + err
    assert 'error: "Storage" has no attribute "user"' in out
