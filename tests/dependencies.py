"""The project's dependency ranges (setup.cfg) and its lock files, read for the tests."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"
# The extras each lock is compiled with (scripts/lock.sh); the base requirements come too.
LOCKED_EXTRAS = {RUNTIME_LOCK: ("redis", "rq", "otlp"), DEV_LOCK: ("dev", "redis", "rq", "otlp")}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> dict[NormalizedName, Version]:
    """Each package a pip-compile output pins, with its version."""
    found = {}
    for line in lock.read_text().splitlines():
        if match := _PIN.match(line):
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def ranges(*extras: str) -> list[Requirement]:
    """The base requirements of setup.cfg and those of the given extras."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    blocks = [config["options"]["install_requires"]]
    blocks += [config["options.extras_require"][extra] for extra in extras]
    return [Requirement(line) for block in blocks for line in block.splitlines() if line.strip()]
