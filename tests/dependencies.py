"""The project's dependency ranges (setup.cfg), read for the tests."""

from __future__ import annotations

import configparser
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def ranges(*extras: str) -> list[Requirement]:
    """The base requirements of setup.cfg and those of the given extras."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    blocks = [config["options"]["install_requires"]]
    blocks += [config["options.extras_require"][extra] for extra in extras]
    return [Requirement(line) for block in blocks for line in block.splitlines() if line.strip()]
