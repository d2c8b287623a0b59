"""The README as a reader relies on it: every setting the service reads is in its
configuration table, and its Development tree lists what the repository holds."""

from __future__ import annotations

import re
from pathlib import Path

from wfplatform import config

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "wfplatform"
ENVIRONMENT_READ = re.compile(r"""environ(?:\.get)?[\[(]\s*["']((?:WF|DATABASE)_[A-Z_]+)""")


def _section(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {heading}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def _settings_read_by_the_service() -> set[str]:
    read = set(config.SETTINGS)
    for source in PACKAGE.rglob("*.py"):
        read |= set(ENVIRONMENT_READ.findall(source.read_text()))
    return read


def test_every_setting_the_service_reads_is_in_the_configuration_table():
    rows = [line for line in _section("Configuration").splitlines() if line.startswith("| `")]
    documented = {
        name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }

    missing = _settings_read_by_the_service() - documented

    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_the_development_tree_lists_every_package_script_and_test_folder():
    tree = _section("Development")
    packages = {rf"^  {p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    scripts = {
        rf"\b{re.escape(p.name)}\b"
        for p in (ROOT / "scripts").iterdir()
        if not p.name.startswith("_")
    }
    test_folders = {rf"^tests/{p.parent.name}\b" for p in (ROOT / "tests").glob("*/__init__.py")}

    missing = {
        pattern
        for pattern in packages | scripts | test_folders
        if not re.search(pattern, tree, re.MULTILINE)
    }

    assert not missing, f"missing from the README's Development tree: {sorted(missing)}"


def test_no_document_points_outside_the_repository():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

    outside = [str(doc.relative_to(ROOT)) for doc in documents if "../" in doc.read_text()]

    assert not outside, f"these send readers to files a clone does not have: {outside}"
