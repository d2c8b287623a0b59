"""The fresh installs of tests/e2e/test_fresh_install.py, started in the background when
the run starts (tests/e2e/conftest.py): each takes most of a minute of pip on one core, so
they install while the rest of the suite runs on the other, each in its own copy of the
tree and its own venv. Only the ones a selected test asks for (by fixture name) start."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.dependencies import ROOT

INSTALL_TIMEOUT = 900  # seconds; a fresh install takes about one minute here


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


def copy_tree(folder: Path) -> Path:
    """The files of this checkout that git tracks or would track, as they are on disk."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    copy = folder / "tree"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted on disk is listed too
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def installed(python: Path) -> dict[str, Version]:
    listed = run([python, "-m", "pip", "list", "--format=json"], python.parent)
    return {canonicalize_name(d["name"]): Version(d["version"]) for d in json.loads(listed.stdout)}


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


# The runtime lock's first: it makes its venv in the background too.
STARTS = {"from_runtime_lock": FromRuntimeLock.start, "from_ranges": FromRanges.start}
STARTED = pytest.StashKey[dict]()
FOLDER = pytest.StashKey[Path]()


def start_asked(session: pytest.Session) -> None:
    """Start the installs that the selected tests ask for."""
    asked = {name for item in session.items for name in item.fixturenames}
    names = [name for name in STARTS if name in asked]
    session.stash[STARTED] = starts = {}
    if not names or session.config.option.collectonly:
        return
    session.stash[FOLDER] = folder = Path(tempfile.mkdtemp(prefix="wf-installs-"))
    for name in names:
        (folder / name).mkdir()
        try:
            starts[name] = STARTS[name](folder / name)
        except Exception as error:  # raised in the test that asked, not here in collection
            starts[name] = error


def started(request: pytest.FixtureRequest, name: str) -> FromRanges | FromRuntimeLock:
    """The install `name` started for the run (the one that failed to start raises)."""
    install = request.session.stash[STARTED][name]
    if isinstance(install, Exception):
        raise install
    return install


def stop_started(session: pytest.Session) -> None:
    """Stop the installs still running (the run ended early) and remove their folders."""
    for each in session.stash.get(STARTED, {}).values():
        if not isinstance(each, Exception):
            each.install.stop()
    if FOLDER in session.stash:
        shutil.rmtree(session.stash[FOLDER], ignore_errors=True)
