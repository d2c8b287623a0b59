"""A fresh install on a clean copy of this tree, in a new venv that keeps the pip its Python
ships (23.2 with Python 3.11): the way a user installs from the ranges in setup.cfg, and
the way scripts/serve.sh and scripts/test.sh install from the lock files.

These need a package index (PyPI). The two installs with pip as shipped take most of a
minute each, on one core: the selected ones start side by side when the module does, each
in its own copy of the tree and its own venv, and each test waits for its own. Without an
index they skip with the reason, except with CI=true, where they fail."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.databases import IN_CI
from tests.dependencies import ROOT, RUNTIME_LOCK, pins

pytestmark = pytest.mark.network

INSTALL_TIMEOUT = 900  # seconds; a fresh install takes about one minute here
# What a venv holds besides the lock: its own installers, and the project.
NOT_LOCKED = {"pip", "setuptools", "wfplatform"}


def outside_the_suite(**env: str) -> dict[str, str]:
    """This environment without the suite's venv: no VIRTUAL_ENV or PYTHONPATH leaks in."""
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**environment, **env}


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    output = f"{result.args}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    assert result.returncode == 0, output
    return result


def run(command: list, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run outside this suite's venv."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=outside_the_suite(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return succeeded(result)


class Install:
    """A command run in the background outside the suite's venv, its output kept in files
    (a pipe nobody reads would stall it); `result()` waits for it as `run` does."""

    def __init__(self, command: list, cwd: Path) -> None:
        self.command = [str(part) for part in command]
        self._out, self._err = cwd.parent / "install.out", cwd.parent / "install.err"
        with self._out.open("w") as out, self._err.open("w") as err:
            self.process = subprocess.Popen(
                self.command, cwd=cwd, env=outside_the_suite(), stdout=out, stderr=err
            )

    def result(self) -> subprocess.CompletedProcess:
        returncode = self.process.wait(timeout=INSTALL_TIMEOUT)
        return succeeded(
            subprocess.CompletedProcess(
                self.command, returncode, self._out.read_text(), self._err.read_text()
            )
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


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


def copy_tree(folder: Path) -> Path:
    """The files of this checkout that git tracks or would track, as they are on disk."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    copy = folder / "tree"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted on disk is listed too
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture
def tree(tmp_path) -> Path:
    return copy_tree(tmp_path)


def shipped_pip(python: Path) -> Version:
    """The pip that the venv's Python bundles (ensurepip), which a new venv starts with."""
    shipped = run([python, "-c", "import ensurepip; print(ensurepip.version())"], python.parent)
    return Version(shipped.stdout.strip())


def installed(python: Path) -> dict[str, Version]:
    listed = run([python, "-m", "pip", "list", "--format=json"], python.parent)
    return {canonicalize_name(d["name"]): Version(d["version"]) for d in json.loads(listed.stdout)}


def locked(versions: dict[str, Version]) -> dict[str, Version]:
    return {name: version for name, version in versions.items() if name not in NOT_LOCKED}


@dataclasses.dataclass
class FromRanges:
    """`pip install -e '.[dev]'` into a new venv, with the pip it had before (as created)."""

    tree: Path
    pip_before: Version
    install: Install

    @property
    def folder(self) -> Path:
        return self.tree.parent

    @classmethod
    def start(cls, folder: Path) -> FromRanges:
        tree = copy_tree(folder)
        run([sys.executable, "-m", "venv", folder / "venv"], folder)
        pip_before = installed(folder / "venv" / "bin" / "python")["pip"]
        command = [folder / "venv" / "bin" / "python", "-m", "pip", "install", "-e", ".[dev]"]
        return cls(tree, pip_before, Install(command, tree))


@dataclasses.dataclass
class FromRuntimeLock:
    """What scripts/serve.sh does first on a fresh machine: `wf_ensure_venv runtime`."""

    tree: Path
    install: Install

    @classmethod
    def start(cls, folder: Path) -> FromRuntimeLock:
        tree = copy_tree(folder)
        command = ["bash", "-c", "source scripts/_venv.sh && wf_ensure_venv runtime"]
        return cls(tree, Install(command, tree))


STARTS = {"from_ranges": FromRanges.start, "from_runtime_lock": FromRuntimeLock.start}


@pytest.fixture(scope="module")
def started(request, tmp_path_factory, package_index) -> Iterator[dict]:
    """The installs that this module's selected tests ask for, started at once (the runtime
    lock's first: it makes its venv in the background too)."""
    asked = {
        name
        for item in request.session.items
        if item.module is request.module
        for name in item.fixturenames
    }
    installs = {}
    try:
        for name in ("from_runtime_lock", "from_ranges"):
            if name in asked:
                installs[name] = STARTS[name](tmp_path_factory.mktemp(name))
        yield installs
    finally:
        for each in installs.values():
            each.install.stop()


@pytest.fixture(scope="module")
def from_ranges(started) -> FromRanges:
    return started["from_ranges"]


@pytest.fixture(scope="module")
def from_runtime_lock(started) -> FromRuntimeLock:
    return started["from_runtime_lock"]


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
