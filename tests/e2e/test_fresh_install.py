"""A fresh install on a clean copy of this tree, in a new venv that keeps the pip its Python
ships (23.2 with Python 3.11): the way a user installs from the ranges in setup.cfg, and
the way scripts/serve.sh installs from the runtime lock.

These need a package index (PyPI). The two installs with pip as shipped start in the
background when the run does (tests/e2e/installs.py), and each test waits for its own.
Without an index they skip with the reason, except with CI=true, where they fail."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from tests.databases import IN_CI
from tests.dependencies import RUNTIME_LOCK, pins
from tests.e2e.installs import (
    INSTALL_TIMEOUT,
    FromRanges,
    FromRuntimeLock,
    copy_tree,
    installed,
    run,
    started,
)

pytestmark = pytest.mark.network

# What a venv holds besides the lock: its own installers, and the project.
NOT_LOCKED = {"pip", "setuptools", "wfplatform"}


@pytest.fixture(scope="module", autouse=True)
def package_index(tmp_path_factory) -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "0", "--timeout",
         "15", "--dest", tmp_path_factory.mktemp("probe"), "flask"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    if probe.returncode != 0:
        reason = f"no package index answers pip: {probe.stderr.strip().splitlines()[-1:]}"
        if IN_CI:
            pytest.fail(f"CI=true requires a package index: {reason}")
        pytest.skip(reason)


@pytest.fixture
def tree(tmp_path) -> Path:
    return copy_tree(tmp_path)


def shipped_pip(python: Path) -> Version:
    """The pip that the venv's Python bundles (ensurepip), which a new venv starts with."""
    shipped = run([python, "-c", "import ensurepip; print(ensurepip.version())"], python.parent)
    return Version(shipped.stdout.strip())


def locked(versions: dict[str, Version]) -> dict[str, Version]:
    return {name: version for name, version in versions.items() if name not in NOT_LOCKED}


@pytest.fixture(scope="module")
def from_ranges(request, package_index) -> FromRanges:
    return started(request, "from_ranges")


@pytest.fixture(scope="module")
def from_runtime_lock(request, package_index) -> FromRuntimeLock:
    return started(request, "from_runtime_lock")


def test_pip_as_shipped_installs_the_project_from_its_ranges(from_ranges):
    tree, tmp_path = from_ranges.tree, from_ranges.folder
    python = tmp_path / "venv" / "bin" / "python"
    assert from_ranges.pip_before == shipped_pip(python)

    from_ranges.install.result()

    # From a folder without the package, so the import finds the installed one.
    imported = run([python, "-c", "import wfplatform; print(wfplatform.__file__)"], tmp_path)
    assert Path(imported.stdout.strip()) == tree / "wfplatform" / "__init__.py"
    flask = [tmp_path / "venv" / "bin" / "flask", "--app", "wfplatform"]
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'wf.sqlite3'}", "WF_SECRET_KEY": "k" * 32}
    run([*flask, "db", "upgrade"], tmp_path, **settings)
    routes = run([*flask, "routes"], tmp_path, **settings)
    assert "/openapi.json" in routes.stdout and "/docs" in routes.stdout


def test_a_built_wheel_carries_the_docs_page(tree, tmp_path):
    # What a normal, non-editable `pip install .` installs.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path, "."], tree)
    (wheel,) = tmp_path.glob("wfplatform-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())

    docs_page = {p.relative_to(tree).as_posix() for p in tree.glob("wfplatform/api/docs_page/*")}
    assert docs_page and docs_page <= names


def test_serve_sh_installs_the_runtime_lock_with_pip_as_shipped(from_runtime_lock):
    """What scripts/serve.sh does on a fresh machine. (The dev lock is what CI's own set-up
    installs from a clean clone, and tests/unit/test_dependencies.py checks the suite runs
    on exactly it.)"""
    tree = from_runtime_lock.tree

    def ensure_venv() -> str:
        command = "source scripts/_venv.sh && wf_ensure_venv runtime"
        return run(["bash", "-c", command], tree, timeout=INSTALL_TIMEOUT).stderr

    python = tree / ".venv" / "bin" / "python"

    assert "installing requirements.lock" in from_runtime_lock.install.result().stderr
    assert locked(installed(python)) == pins(tree / RUNTIME_LOCK)
    assert installed(python)["pip"] == shipped_pip(python)
    assert "installing" not in ensure_venv()

    with (tree / RUNTIME_LOCK).open("a") as lock:
        lock.write("# a changed lock\n")
    stale = subprocess.run(
        ["bash", "-c", "source scripts/_venv.sh && wf_install_is_current runtime"], cwd=tree
    )
    assert stale.returncode == 1
