"""Configuration from the environment: `DATABASE_URL`, `WF_*` (standard `OTEL_*` are read by
the OpenTelemetry SDK itself)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ValidationFailed
from .storage.modes import RepositoryMode
from .storage.sql import ENGINE_OPTIONS


class ConfigurationError(RuntimeError):
    pass


def database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(instance_path) / 'wfplatform.sqlite3'}"
    for scheme in ("postgres://", "postgresql://"):
        # psycopg2 is the driver we ship; SQLAlchemy 2.1 would pick psycopg 3 for these.
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def default_mode() -> RepositoryMode:
    try:
        return RepositoryMode.of(
            os.environ.get("WF_STORAGE_MODE", "memory-only"),
            os.environ.get("WF_READ_FROM") or None,
            shadow_rate=float(os.environ.get("WF_SHADOW_RATE", "0")),
            fallback=os.environ.get("WF_FALLBACK", "true").lower() not in ("0", "false", "no"),
        )
    except (ValidationFailed, ValueError) as exc:
        raise ConfigurationError(f"storage configuration: {exc}") from exc


def load(app) -> None:
    """Fill `app.config` from the environment; explicit test config (already set) wins."""
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", database_url(app.instance_path))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", dict(ENGINE_OPTIONS))
    app.config.setdefault("WF_STORAGE_DEFAULT", default_mode())
    app.config.setdefault(
        "WF_JOURNAL_PATH",
        os.environ.get("WF_JOURNAL_PATH", str(Path(app.instance_path) / "sync-journal.log")),
    )
    app.config.setdefault("WF_DB_RETRY_AFTER", float(os.environ.get("WF_DB_RETRY_AFTER", "1.0")))
    app.config.setdefault("WF_SYNC_INTERVAL", float(os.environ.get("WF_SYNC_INTERVAL", "1.0")))
    app.config.setdefault("WF_START_STORAGE", True)
