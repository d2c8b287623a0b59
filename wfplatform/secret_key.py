"""The signing key: `WF_SECRET_KEY`, or one generated once and kept in the instance folder
so every worker and every restart shares it."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def resolve(instance_path: str, configured: str | None, production: bool) -> str:
    if configured:
        return configured
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        _create_once(path)
        if production:
            log.warning("WF_SECRET_KEY is not set: using a key generated in %s", path)
    return path.read_text().strip()


def _create_once(path: Path) -> None:
    """Write a complete key file, then link it into place: of several processes starting
    at once, exactly one key wins and nobody reads a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
