"""The layering is a checked contract (`[tool.importlinter]` in pyproject.toml, described in
docs/ARCHITECTURE.md, "The storage package's layers"): import-linter counts every import,
those under `TYPE_CHECKING` too, so the suite fails on an import cycle, on an import from a
lower layer into a higher one, on a module no layer names, and on code outside the storage
package importing its pieces or parts."""

from __future__ import annotations

import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def test_the_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exit_code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out


def test_imports_under_type_checking_count_like_any_other():
    settings = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    assert str(settings.get("exclude_type_checking_imports", False)).lower() == "false"
