"""The layering is a checked contract (`[tool.importlinter]` in pyproject.toml, described in
docs/ARCHITECTURE.md, "The storage package's layers"): import-linter counts every import,
those under `TYPE_CHECKING` too, so the suite fails on an import cycle, on an import from a
lower layer into a higher one, on a module no layer names, and on code outside the storage
package importing its pieces or parts. What outside code calls instead is listed, and a test
keeps the list and the code equal."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from wfplatform.repositories import Repositories
from wfplatform.storage.adapter import Storage

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


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)(?:\(|`)", text))


def test_the_storage_surface_outside_code_uses_is_the_documented_one():
    """Storage's public methods are exactly those its docstring and docs/ARCHITECTURE.md
    list for outside code (the registry's typed lines aside)."""
    public = {name for name in dir(Storage) if not name.startswith("_")} - set(vars(Repositories))
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    surface = architecture.split("### The outside surface", 1)[1].split("\n## ", 1)[0]
    listed = "\n".join(line for line in surface.splitlines() if line.startswith(("- ", "  ")))
    assert _names_in(Storage.__doc__.split("\n\n", 1)[1]) == public
    assert _names_in(listed) == public
