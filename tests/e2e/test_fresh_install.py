"""A fresh install on a clean copy of this tree, in a new venv that keeps the pip its Python
ships (23.2 with Python 3.11): the way a user installs from the ranges in setup.cfg, and
the way scripts/serve.sh and scripts/test.sh install from the lock files.

These need a package index (PyPI) and take a minute or two each. Without one they skip
with the reason, except with CI=true, where they fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.databases import IN_CI
from tests.dependencies import DEV_LOCK, ROOT, RUNTIME_LOCK, pins

pytestmark = pytest.mark.network

INSTALL_TIMEOUT = 900  # seconds; a fresh install takes about one minute here
# What a venv holds besides the lock: its own installers, and the project.
NOT_LOCKED = {"pip", "setuptools", "wfplatform"}


def run(command: list, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run outside this suite's venv: no VIRTUAL_ENV or PYTHONPATH leaks into the command."""
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


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
    """The files of this checkout that git tracks or would track, as they are on disk."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    copy = tmp_path / "tree"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted on disk is listed too
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def shipped_pip(python: Path) -> Version:
    """The pip that the venv's Python bundles (ensurepip), which a new venv starts with."""
    shipped = run([python, "-c", "import ensurepip; print(ensurepip.version())"], python.parent)
    return Version(shipped.stdout.strip())


def installed(python: Path) -> dict[str, Version]:
    listed = run([python, "-m", "pip", "list", "--format=json"], python.parent)
    return {canonicalize_name(d["name"]): Version(d["version"]) for d in json.loads(listed.stdout)}


def locked(versions: dict[str, Version]) -> dict[str, Version]:
    return {name: version for name, version in versions.items() if name not in NOT_LOCKED}


def test_pip_as_shipped_installs_the_project_from_its_ranges(tree, tmp_path):
    run([sys.executable, "-m", "venv", tmp_path / "venv"], tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    assert installed(python)["pip"] == shipped_pip(python)

    run([python, "-m", "pip", "install", "-e", ".[dev]"], tree, timeout=INSTALL_TIMEOUT)

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


def test_the_scripts_install_the_locks_with_pip_as_shipped(tree):
    def ensure_venv(kind: str) -> str:
        command = f"source scripts/_venv.sh && wf_ensure_venv {kind}"
        return run(["bash", "-c", command], tree, timeout=INSTALL_TIMEOUT).stderr

    python = tree / ".venv" / "bin" / "python"

    assert "installing requirements.lock" in ensure_venv("runtime")  # as serve.sh does
    assert locked(installed(python)) == pins(tree / RUNTIME_LOCK)
    assert "installing requirements-dev.lock" in ensure_venv("dev")  # as test.sh does
    assert locked(installed(python)) == pins(tree / DEV_LOCK)
    assert installed(python)["pip"] == shipped_pip(python)
    assert "installing" not in ensure_venv("runtime") + ensure_venv("dev")

    with (tree / DEV_LOCK).open("a") as lock:
        lock.write("# a changed lock\n")
    stale = subprocess.run(
        ["bash", "-c", "source scripts/_venv.sh && wf_install_is_current dev"], cwd=tree
    )
    assert stale.returncode == 1
