"""Configuration from the environment: `DATABASE_URL`, `WF_*` (standard `OTEL_*` are read by
the OpenTelemetry SDK itself)."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .backends.sql import TimeBounds, engine_options
from .errors import ValidationFailed
from .storage.modes import RepositoryMode

log = logging.getLogger(__name__)


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


# Settings read from the environment: name -> (type, default).
SETTINGS: dict[str, tuple[type, object]] = {
    "WF_DB_RETRY_AFTER": (float, 1.0),
    # seconds a request may wait on PostgreSQL: to connect, for a pooled connection, for a
    # statement (0: no limit); past them the database counts as down (see TimeBounds)
    "WF_DB_CONNECT_TIMEOUT": (float, TimeBounds.connect),
    "WF_DB_POOL_TIMEOUT": (float, TimeBounds.pool),
    "WF_DB_STATEMENT_TIMEOUT": (float, TimeBounds.statement),
    "WF_MAX_REQUEST_BYTES": (int, 10 * 1024 * 1024),
    "WF_MAX_IMPORT_BYTES": (int, 1024 * 1024 * 1024),  # POST /admin/import
    "WF_SYNC_INTERVAL": (float, 1.0),
    # records (users) each process keeps while PostgreSQL announces their changes (0: none)
    "WF_READ_CACHE_RECORDS": (int, 10_000),
    # the share of one CPU shadow comparisons may use (see storage/shadow.py)
    "WF_SHADOW_BUDGET": (float, 0.05),
    "WF_PASSWORD_TIME_COST": (int, 3),
    "WF_PASSWORD_MEMORY_KIB": (int, 65536),
    "WF_TOKEN_MAX_AGE": (int, 12 * 3600),
    "WF_LOGIN_MAX_FAILURES": (int, 5),  # per account and client address, then back-off
    "WF_LOGIN_MAX_FAILURES_PER_ACCOUNT": (int, 20),  # from addresses it has not logged in from
    "WF_LOGIN_MAX_FAILURES_PER_ADDRESS": (int, 20),  # whatever the account
    "WF_LOGIN_BACKOFF_SECONDS": (int, 900),  # the longest wait the doubling reaches
    # Per user (0: no limit); see services/quotas.py.
    "WF_QUOTA_WORKFLOWS": (int, 1000),
    "WF_QUOTA_VERSIONS": (int, 20_000),
    "WF_QUOTA_BYTES": (int, 100 * 1024 * 1024),
    "WF_RATELIMIT_API": (str, "300 per minute"),
    "WF_RATELIMIT_LOGIN": (str, "10 per minute"),
    "WF_RATELIMIT_STORAGE_URL": (str, "memory://"),
    "WF_RATELIMIT_PREFIX": (str, ""),  # deployments sharing one Redis keep apart by it
    "WF_ADMIN_EMAIL": (str, None),
    "WF_ADMIN_PASSWORD": (str, None),
    "WF_ADMIN_PASSWORD_FILE": (str, None),
    # the key ring credentials are sealed with (see services/encryption.py), or a file of it
    "WF_ENCRYPTION_KEYS": (str, None),
    "WF_ENCRYPTION_KEYS_FILE": (str, None),
    # the execution engine (see wfplatform/executions/settings.py, docs/OPERATIONS.md)
    "WF_EXECUTION_QUEUE_URL": (str, None),  # redis://...: RQ workers run executions
    "WF_EXECUTION_QUEUE_NAME": (str, "wf-executions"),  # deployments sharing a Redis
    "WF_EXECUTION_WORKERS": (int, 4),  # runs at once in one process
    "WF_EXECUTION_CONCURRENCY": (int, 20),  # runs at once over every process (0: no limit)
    "WF_EXECUTION_WORKFLOW_CONCURRENCY": (int, 0),  # per workflow, unless its settings say
    "WF_EXECUTION_LEASE_SECONDS": (float, 30.0),
    "WF_EXECUTION_SWEEP_SECONDS": (float, 5.0),
    "WF_EXECUTION_CANCEL_POLL_SECONDS": (float, 1.0),
    "WF_EXECUTION_MAX_RETRIES": (int, 3),
    "WF_EXECUTION_WAIT_SECONDS": (float, 30.0),
    "WF_EXECUTION_MAX_OUTPUT_BYTES": (int, 1024 * 1024),
    "WF_EXECUTION_MAX_DATA_BYTES": (int, 16 * 1024 * 1024),
    "WF_EXECUTION_EVENT_STREAMS": (int, 32),  # GET .../events at once in one process
    "WF_EXECUTION_EVENT_POLL_SECONDS": (float, 1.0),
    # where http_request may connect (see wfplatform/executions/destinations.py)
    "WF_HTTP_DENY": (str, "169.254.0.0/16,fe80::/10,fd00:ec2::/32"),
    "WF_HTTP_ALLOW": (str, ""),
    "WF_HTTP_MAX_RESPONSE_BYTES": (int, 10 * 1024 * 1024),
    "WF_METRICS_TOKEN": (str, None),  # GET /metrics then needs it as a bearer token
    "WF_TRUSTED_PROXIES": (int, 0),  # reverse proxies whose X-Forwarded-For is believed
    "WF_LOG_FORMAT": (str, "json"),  # or "text": logging is left to the host
    "WF_LOG_LEVEL": (str, "INFO"),
}


# Settings that no longer do anything: name -> what to set instead.
RETIRED: dict[str, str] = {
    "WF_LOGIN_LOCK_SECONDS": "failed logins back off instead of locking the account: "
    "see WF_LOGIN_BACKOFF_SECONDS",
}


def _warn_retired() -> None:
    for name, instead in RETIRED.items():
        if os.environ.get(name):
            log.warning("%s is set but no longer does anything (%s)", name, instead)


def _from_environment(name: str, kind: type, default: object) -> object:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc


def time_bounds(config: Mapping[str, Any]) -> TimeBounds:
    return TimeBounds(
        config["WF_DB_CONNECT_TIMEOUT"],
        config["WF_DB_POOL_TIMEOUT"],
        config["WF_DB_STATEMENT_TIMEOUT"],
    )


def load(app) -> None:
    """Fill `app.config` from the environment; explicit config (already set) wins."""
    config = app.config
    _warn_retired()
    for name, (kind, default) in SETTINGS.items():
        config.setdefault(name, _from_environment(name, kind, default))
    config.setdefault("SQLALCHEMY_DATABASE_URI", database_url(app.instance_path))
    config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(config["SQLALCHEMY_DATABASE_URI"], time_bounds(config)),
    )
    config.setdefault("WF_STORAGE_DEFAULT", default_mode())
    default_journal = str(Path(app.instance_path) / "sync-journal.log")
    config.setdefault("WF_JOURNAL_PATH", os.environ.get("WF_JOURNAL_PATH", default_journal))
    config.setdefault("WF_START_STORAGE", True)
    if config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: unbounded
        config["MAX_CONTENT_LENGTH"] = config["WF_MAX_REQUEST_BYTES"]
    production = not (app.debug or app.testing)
    config["SECRET_KEY"] = secret_key(
        app.instance_path, config.get("SECRET_KEY") or os.environ.get("WF_SECRET_KEY"), production
    )


def secret_key(instance_path: str, configured: str | None, production: bool) -> str:
    """The signing key: `WF_SECRET_KEY`, or one generated once and kept in the instance
    folder so every worker and every restart shares it."""
    if configured:
        return configured
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        _create_key_once(path)
        if production:
            log.warning("WF_SECRET_KEY is not set: using a key generated in %s", path)
    return path.read_text().strip()


def _create_key_once(path: Path) -> None:
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
