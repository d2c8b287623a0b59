"""The composition root: how storage and the services are built and started, for the app,
the CLI and the tests alike. Nothing else wires parts together.

    build_storage(engine, journal_path, default_mode)   # a storage (tests and tools too)
    build_services(storage, config)                     # the services on a storage
    get_storage(app), services(app)                     # the app's, built once on first use

The app's storage is built on first use: by `start_serving` at the end of `create_app()` in
a serving process, else by whatever needs it first (CLI commands such as `flask db upgrade`
must run before its control-plane tables exist). With `WF_START_STORAGE=False` (tests) it
is built on first use and never started.

A serving process is ready before its first request, whatever started it: `gunicorn
wfplatform.wsgi:app`, `gunicorn 'wfplatform:create_app()'`, `flask run` or a program
embedding the app. Storage starts (the journal an earlier process left is replayed, the
memory copies of repositories in `dual` are loaded, see `storage.warmup`) and the admins
made from the CLI or by `WF_ADMIN_EMAIL` are in place. Other Flask CLI commands start
nothing there: a one-off command starts storage when it first uses it. A process starting
while the database is down (a worker gunicorn starts again after one died mid-outage)
waits for it instead of failing: the stored modes decide how to serve, and a worker that
fails to boot makes gunicorn stop serving altogether."""

from __future__ import annotations

import atexit
import gc
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import get_debug_flag
from sqlalchemy.engine import Engine
from werkzeug.serving import is_running_from_reloader

from .backends.sql import configure_engine, reading_engine
from .backfill.jobs import BackfillJobs
from .backup.jobs import ImportJobs
from .config import ConfigurationError, time_bounds
from .errors import StorageUnavailable
from .executions.engine import ExecutionEngine, readiness_with_workers
from .executions.queue import ExecutionQueue
from .executions.service import Executions
from .executions.settings import EngineSettings
from .extensions import built_once, db, head_revision
from .observability import TracedBackfiller, get_metrics
from .observability.metrics import Metrics
from .repositories import REPOSITORIES, RepositoryBackends
from .services import admins
from .services.accounts import Accounts
from .services.api_keys import ApiKeys
from .services.audit import AuditLog
from .services.credentials import Credentials
from .services.cutover import Cutover
from .services.encryption import SETTING as KEY_RING_SETTING
from .services.encryption import KeyRing, KeyRingError
from .services.key_check import keys_missing_from_ring
from .services.login_throttle import LoginThrottle, ThrottlePolicy
from .services.passwords import Passwords
from .services.quotas import Quotas
from .services.rate_limits import RateLimits, open_counters
from .services.tokens import Tokens
from .services.workflows import Workflows
from .storage.adapter import Storage
from .storage.mode_registry import ModeRegistry
from .storage.modes import RepositoryMode, needs_one_process

log = logging.getLogger(__name__)
START_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Services:
    accounts: Accounts
    api_keys: ApiKeys
    workflows: Workflows
    credentials: Credentials
    executions: Executions
    passwords: Passwords
    audit: AuditLog
    cutover: Cutover
    backfills: BackfillJobs
    imports: ImportJobs
    rate_limits: RateLimits


# -- building ----------------------------------------------------------------------------------
def build_storage(
    engine: Engine,
    journal_path: str,
    default_mode: RepositoryMode,
    *,
    repositories: Iterable[RepositoryBackends] = REPOSITORIES,
    **options: Any,
) -> Storage:
    """Storage on `engine`, in the modes the database holds (`default_mode` where it holds
    none yet), not started; `options` are `Storage`'s (retry_after, sync_interval, ...)."""
    repositories = list(repositories)
    modes = ModeRegistry(engine, [binding.spec for binding in repositories], default_mode)
    modes.load()
    return Storage(engine, modes, journal_path, repositories=repositories, **options)


def build_services(
    storage: Storage, config: Mapping[str, Any], metrics: Metrics | None = None
) -> Services:
    passwords = Passwords(config["WF_PASSWORD_TIME_COST"], config["WF_PASSWORD_MEMORY_KIB"])
    tokens = Tokens(config["SECRET_KEY"], config["WF_TOKEN_MAX_AGE"])
    policy = ThrottlePolicy(
        per_account_and_address=config["WF_LOGIN_MAX_FAILURES"],
        per_account=config["WF_LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        per_address=config["WF_LOGIN_MAX_FAILURES_PER_ADDRESS"],
        longest_backoff=config["WF_LOGIN_BACKOFF_SECONDS"],
    )
    counters = open_counters(config["WF_RATELIMIT_STORAGE_URL"])
    throttle = LoginThrottle(counters, policy, config["WF_RATELIMIT_PREFIX"])
    quotas = Quotas(
        config["WF_QUOTA_WORKFLOWS"], config["WF_QUOTA_VERSIONS"], config["WF_QUOTA_BYTES"]
    )
    audit_log = AuditLog(storage)
    credentials = Credentials(storage, key_ring(config), metrics)
    if credentials.ring is not None:
        storage.add_readiness_check("credentials", credentials.readiness)
    backfills = BackfillJobs(TracedBackfiller(storage, metrics))
    engine = ExecutionEngine(storage, credentials, engine_settings(config), execution_queue(config))
    if metrics is not None:
        engine.bus.subscribe(metrics.heard)
    if engine.queue.backend != "in-process":
        for name in storage.repository_names:
            storage.add_readiness_check(name, readiness_with_workers)
    return Services(
        accounts=Accounts(storage, passwords, tokens, throttle),
        api_keys=ApiKeys(storage),
        workflows=Workflows(storage, quotas),
        credentials=credentials,
        executions=Executions(storage, engine),
        passwords=passwords,
        audit=audit_log,
        cutover=Cutover(storage, audit_log, backfills.backfiller.runs),
        backfills=backfills,
        imports=ImportJobs(storage, head_revision(), credentials.import_problems),
        rate_limits=RateLimits(counters, config["WF_RATELIMIT_PREFIX"]),
    )


def engine_settings(config: Mapping[str, Any]) -> EngineSettings:
    try:
        return EngineSettings.of(config)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def execution_queue(config: Mapping[str, Any]) -> ExecutionQueue | None:
    """RQ on Redis when `WF_EXECUTION_QUEUE_URL` is set; None: the in-process pool."""
    url = config["WF_EXECUTION_QUEUE_URL"]
    if not url:
        return None
    try:
        from .executions.rq_queue import RqQueue
    except ImportError:
        raise ConfigurationError(
            "WF_EXECUTION_QUEUE_URL needs RQ: pip install 'wfplatform[rq]'"
        ) from None
    name = config["WF_EXECUTION_QUEUE_NAME"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name or ""):
        raise ConfigurationError(
            f"WF_EXECUTION_QUEUE_NAME={name!r}: letters, digits, '_' and '-' only (RQ's job ids)"
        )
    return RqQueue(url, name)


def key_ring(config: Mapping[str, Any]) -> KeyRing | None:
    """The ring `WF_ENCRYPTION_KEYS` holds, or the file `WF_ENCRYPTION_KEYS_FILE` names;
    None when neither is set. A ring that cannot be used is a `ConfigurationError` naming
    what is wrong with it, never a key."""
    text, path = config.get(KEY_RING_SETTING), config.get(f"{KEY_RING_SETTING}_FILE")
    if not text and path:
        try:
            with open(path, encoding="utf-8-sig") as handle:  # a BOM an editor left is no key
                text = handle.read().strip()
        except OSError as error:
            raise ConfigurationError(
                f"{KEY_RING_SETTING}_FILE: cannot read {path} ({error.strerror})"
            ) from None
    if not text:
        return None
    try:
        return KeyRing.parse(text)
    except KeyRingError as error:
        raise ConfigurationError(str(error)) from None


# -- the app's ---------------------------------------------------------------------------------
def init_app(app: Flask) -> None:
    app.extensions["wf_storage"] = None
    with app.app_context():
        configure_engine(db.engine)


def get_storage(app: Flask | None = None) -> Storage:
    return built_once("wf_storage", _app_storage, app)


def services(app: Flask | None = None) -> Services:
    return built_once("wf_services", _app_services, app)


def _app_storage(app: Flask) -> Storage:
    config = app.config
    with app.app_context():
        engine = db.engine
    storage = build_storage(
        engine,
        config["WF_JOURNAL_PATH"],
        config["WF_STORAGE_DEFAULT"],
        retry_after=config["WF_DB_RETRY_AFTER"],
        sync_interval=config["WF_SYNC_INTERVAL"],
        reading_engine=reading_engine(config["SQLALCHEMY_DATABASE_URI"], time_bounds(config)),
        cache_capacity=config["WF_READ_CACHE_RECORDS"],
        shadow_budget=config["WF_SHADOW_BUDGET"],
    )
    if config["WF_START_STORAGE"]:
        storage.start()
        atexit.register(storage.close)
    return storage


def stored_modes(app: Flask | None = None) -> dict[str, RepositoryMode]:
    """The modes the app's database holds, read without building or starting storage
    (which would replay the journal and load memory): for decisions made before serving."""
    app = app or current_app._get_current_object()
    with app.app_context():
        modes = ModeRegistry(
            db.engine, [binding.spec for binding in REPOSITORIES], app.config["WF_STORAGE_DEFAULT"]
        )
        modes.load()
    return modes.snapshot()


def _app_services(app: Flask) -> Services:
    return build_services(get_storage(app), app.config, get_metrics(app))


# -- starting a serving process ----------------------------------------------------------------
def start_serving(app: Flask) -> None:
    """Last in `create_app()`: everything a request needs is registered by then."""
    if app.config["WF_START_STORAGE"] and _about_to_serve():
        _start(app)


def _start(app: Flask) -> None:
    if key_ring(app.config) is None:  # before storage: the database may be down yet
        raise ConfigurationError(
            f"{KEY_RING_SETTING} is not set: credentials are sealed with its keys. Generate "
            f"an entry with `flask wf gen-key` and set {KEY_RING_SETTING}=<entry> (or put it "
            f"in a file named by {KEY_RING_SETTING}_FILE); keep it safe, credentials cannot "
            "be opened without it"
        )
    while True:
        try:
            _check_execution_queue(app)
            ring = services(app).credentials.key_ring()
            missing = keys_missing_from_ring(get_storage(app), ring)
            if missing:
                raise ConfigurationError(
                    f"{KEY_RING_SETTING} cannot open every stored credential: "
                    + "; ".join(missing)
                    + ". Put the missing keys back in the ring (after the newest)"
                )
            admins.bootstrap(get_storage(app), services(app).passwords, app.config)
            services(app).audit.deliver()  # what a process that stopped short left waiting
            engine = services(app).executions.engine
            engine.start()
            atexit.register(engine.close)
            _settle_start_up_objects()
            return
        except StorageUnavailable as fault:
            log.warning("the database does not answer (%s); waiting for it before serving", fault)
            time.sleep(START_RETRY_SECONDS)


def _check_execution_queue(app: Flask) -> None:
    """Runs on other processes read their records from the database: refused while any
    repository keeps records in this process's memory."""
    if services(app).executions.engine.queue.backend == "in-process":
        return
    kept = needs_one_process(get_storage(app).current_modes())
    if kept:
        raise ConfigurationError(
            "WF_EXECUTION_QUEUE_URL sends executions to worker processes, which cannot "
            f"read records kept in this process's memory ({', '.join(kept)}): finish the "
            "cut-over to database-only (or dual reading the database with fallback off) "
            "first, or unset it"
        )


def start_worker(app: Flask) -> ExecutionEngine:
    """A `flask wf worker` process: storage started, the same start-up refusals as a
    serving process, and its engine's sweeper running; the engine it runs executions on."""
    _start(app)
    engine = services(app).executions.engine
    if engine.queue.backend == "in-process":
        raise ConfigurationError(
            "set WF_EXECUTION_QUEUE_URL=redis://...: without it each serving process runs "
            "its executions itself"
        )
    return engine


def _settle_start_up_objects() -> None:
    """What start-up made (the app, the records memory loaded from the database) lives as
    long as the process: collect once, then move it all out of the collector's sight
    (`gc.freeze`), so no full collection walks it again (0.8 s with 100,000 workflows in
    memory, each time, with every request waiting). Reference counting still frees it."""
    gc.collect()
    gc.freeze()


def _about_to_serve() -> bool:
    context = click.get_current_context(silent=True)
    if context is None:
        return True  # not the Flask CLI: a WSGI server, or a program embedding the app
    if context.command.name != "run":
        return False
    reload = context.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the watching parent never serves: its child does.
    return not reload or is_running_from_reloader()
