"""The dependency ranges in setup.cfg, the lock files compiled from them, and the venv this
suite runs in: requirements-dev.lock, as scripts/test.sh installs it (`.ci/run` calls it)."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.databases import IN_CI
from tests.dependencies import DEV_LOCK, LOCKED_EXTRAS, ROOT, RUNTIME_LOCK, pins, ranges


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK])
def test_each_lock_pins_a_version_inside_every_range_it_was_compiled_from(lock):
    pinned = pins(ROOT / lock)
    outside = {}
    for requirement in ranges(*LOCKED_EXTRAS[lock]):
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            outside[str(requirement)] = str(version)
    assert not outside, f"{lock} is out of date with setup.cfg: run scripts/lock.sh"


def test_the_dev_lock_keeps_every_pin_of_the_runtime_lock():
    # So a venv set up for the tests serves exactly what requirements.lock would install.
    runtime, dev = pins(ROOT / RUNTIME_LOCK), pins(ROOT / DEV_LOCK)
    differ = {
        name: (str(v), str(dev.get(name))) for name, v in runtime.items() if dev.get(name) != v
    }
    assert not differ


def test_opentelemetry_is_required_as_one_release():
    # Its contrib packages (0.NNbN) and the core (1.NN.N) are released in lockstep and pin
    # each other; independent lower bounds leave pip 23.2's resolver stuck.
    otel = [r for r in ranges("otlp", "dev") if r.name.startswith("opentelemetry-")]
    contrib = {str(r.specifier) for r in otel if r.name.startswith("opentelemetry-instrumentation")}
    core = {str(r.specifier) for r in otel} - contrib
    assert len(contrib) == 1 and next(iter(contrib)).startswith("==")
    assert len(core) == 1 and next(iter(core)).startswith("==")


def test_this_suite_runs_on_exactly_the_dev_lock():
    venv = ROOT / ".venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        reason = f"the suite runs from {sys.prefix}, not from {venv} (scripts/test.sh's venv)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions()
    }
    differ = {
        name: (str(pin), str(installed.get(name)))
        for name, pin in pins(ROOT / DEV_LOCK).items()
        if installed.get(name) != pin
    }
    assert not differ, f"{venv} is not what {DEV_LOCK} pins: run scripts/test.sh"
