"""The layering is a checked contract (`[tool.importlinter]` in pyproject.toml, described in
docs/ARCHITECTURE.md, "The storage package's layers"): import-linter counts every import,
those under `TYPE_CHECKING` too, so the suite fails on an import cycle, on an import from a
lower layer into a higher one, on a module no layer names, and on code outside the storage
package importing its pieces or parts."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
# In a process of its own: lint-imports configures logging, which would silence the
# loggers other tests read.
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_the_import_contracts_hold():
    result = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", str(PYPROJECT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_under_type_checking_count_like_any_other():
    settings = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    assert str(settings.get("exclude_type_checking_imports", False)).lower() == "false"
