"""Fixtures: every storage test runs on real SQLite and on real PostgreSQL.

PostgreSQL tests skip with the reason when no server answers, except in CI (`CI=true`),
where they must run: there a missing server fails the run."""

from __future__ import annotations

import functools
import gc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.engine import Engine

import wfplatform.models  # noqa: F401 (registers the tables)
from tests import databases
from tests.cluster import PostgresCluster, private_cluster
from wfplatform import bootstrap
from wfplatform.extensions import db
from wfplatform.storage.adapter import Storage
from wfplatform.storage.modes import RepositoryMode

SPAN_EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPAN_EXPORTER))
trace.set_tracer_provider(_provider)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is loaded by now (modules, collected tests) lives the whole run: frozen, the
    garbage collector stops walking it on every full collection, and it runs a tenth as
    often on young objects. Collecting took a fifth of an API test's CPU (each leaves an
    app behind, cycles only the collector frees); this saves more than half of it."""
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


def require_postgres() -> None:
    reason = databases.postgres_unavailable_reason()
    if reason is None:
        return
    if databases.IN_CI:
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    require_postgres()
    with databases.temporary_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    """The private cluster of the tests that stop the database, one a run (`initdb` takes
    seconds): each test makes a database of its own on it with `temporary_database`, which
    starts the cluster again when an earlier test left it stopped."""
    with private_cluster() as private:
        yield private


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'wf.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def schema_engine(database_url: str) -> Iterator[Engine]:
    engine = databases.create_engine(database_url)
    db.metadata.create_all(engine)
    databases.stamp_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(schema_engine: Engine) -> Iterator[Engine]:
    databases.empty_all_tables(schema_engine, db.metadata)
    yield schema_engine


StorageFactory = Callable[..., Storage]


def build_storage(engine: Engine, journal_path: Path, mode: str = "memory-only", **kw) -> Storage:
    """`bootstrap.build_storage` with the default mode spelled as tests spell it."""
    read_from = kw.pop("read_from", None)
    default = RepositoryMode.of(mode, read_from, shadow_rate=kw.pop("shadow_rate", 0.0))
    return bootstrap.build_storage(engine, str(journal_path), default, **kw)


@pytest.fixture
def make_storage(engine: Engine, tmp_path: Path) -> Iterator[StorageFactory]:
    built: list[Storage] = []

    def make(mode: str = "memory-only", **kw) -> Storage:
        journal = kw.pop("journal_path", tmp_path / f"journal-{len(built)}.log")
        storage = build_storage(engine, journal, mode, **kw)
        built.append(storage)
        return storage

    yield make
    for storage in built:
        storage.close()


@pytest.fixture(autouse=True)
def _forget_spans() -> Iterator[None]:
    """Every SQL statement is a span: without this they would pile up over a whole run."""
    yield
    SPAN_EXPORTER.clear()


_START_UPS_THAT_FROZE: list[None] = []


def _noting_start_ups(settle: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(settle)
    def settle_and_note() -> None:
        settle()
        _START_UPS_THAT_FROZE.append(None)

    return settle_and_note


bootstrap._settle_start_up_objects = _noting_start_ups(bootstrap._settle_start_up_objects)


@pytest.fixture(autouse=True)
def _collect_what_start_up_froze() -> Iterator[None]:
    """An app started as a serving process freezes what is alive (`bootstrap`): in a test
    run that is this test's objects too, which would then never be collected. Once they
    are garbage, collect them and freeze again only what lives on. Only then: a full
    collection of the run's heap takes a second (the freeze count is no sign: it also
    drops whenever a frozen object is freed)."""
    yield
    if _START_UPS_THAT_FROZE:
        _START_UPS_THAT_FROZE.clear()
        gc.unfreeze()
        gc.collect()
        gc.freeze()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    SPAN_EXPORTER.clear()
    yield SPAN_EXPORTER
    SPAN_EXPORTER.clear()


@pytest.fixture
def backfill_ready(make_storage) -> Storage:
    """Records made in memory-only, then dual: the state a backfill starts from."""
    from tests.factories import make_user, make_version, make_workflow

    storage = make_storage("memory-only")
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    storage.workflow_versions.add(make_version(workflow, 1))
    storage.switch("dual", reason="start the cut-over", actor="ops")
    return storage


@pytest.fixture
def redis_url():
    """A Redis on 127.0.0.1:6379 and a key prefix of this test's own, removed afterwards;
    skipped without one, except with CI=true."""
    url = "redis://127.0.0.1:6379/0"
    try:
        import redis

        with redis.Redis.from_url(url, socket_connect_timeout=1) as probe:
            probe.ping()
    except Exception as exc:  # the redis extra missing, or no server answering
        if databases.IN_CI:
            pytest.fail(f"CI=true requires Redis on 127.0.0.1:6379 and the redis extra: {exc}")
        pytest.skip(f"no Redis on 127.0.0.1:6379 (or the redis extra is missing): {exc}")
    prefix = f"wftest-{uuid.uuid4().hex}"
    yield url, prefix
    server = redis.Redis.from_url(url)
    for key in server.scan_iter(f"*{prefix}*"):  # `limits` puts its own prefix first
        server.delete(key)
    server.close()


@pytest.fixture
def make_app(engine, database_url, tmp_path):
    """Apps on the test's database (its mode; settings as overrides), closed after."""
    from tests.api.conftest import app_config
    from tests.apps import close_app
    from wfplatform import create_app

    made = []

    def make(mode: str = "memory-only", **overrides):
        config = {**app_config(database_url, mode, None, tmp_path), **overrides}
        app = create_app(config, instance_path=str(tmp_path / f"instance-{len(made)}"))
        made.append(app)
        return app

    yield make
    for app in made:
        close_app(app)
