"""A process that starts again mid cut-over: in `dual`, memory starts empty and the
database (with the journal) is the only durable copy, so a started storage loads memory
before it serves it, and says it is not ready until it has.

The first tests run on SQLite and PostgreSQL; the ones that stop the database run on a
private PostgreSQL cluster (tests/cluster.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine

from tests import databases
from tests.conftest import build_storage
from tests.factories import make_user, make_workflow
from wfplatform.api import health
from wfplatform.errors import StorageUnavailable
from wfplatform.extensions import db
from wfplatform.repositories.workflows import WorkflowQuery
from wfplatform.storage.adapter import Storage
from wfplatform.storage.modes import DATABASE, MEMORY


def seed(storage: Storage) -> tuple:
    owner = storage.users.add(make_user())
    workflow = storage.workflows.add(make_workflow(owner))
    return owner, workflow


def assert_serves(storage: Storage, owner, workflow) -> None:
    assert storage.users.get_by_email(owner.email) == owner
    assert storage.workflows.get(workflow.id) == workflow
    assert storage.workflows.list(WorkflowQuery(user_id=owner.id)).items == [workflow]


@pytest.mark.parametrize("read_from", [MEMORY, DATABASE])
def test_a_restarted_process_in_dual_holds_every_record_the_database_holds(make_storage, read_from):
    owner, workflow = seed(make_storage("dual", read_from=read_from))

    restarted = make_storage("dual", read_from=read_from)  # a new process: memory is empty
    restarted.start()

    assert_serves(restarted, owner, workflow)
    assert restarted.verify()["differences"] == 0  # memory is a full copy, fallback included
    assert health.probe(restarted)[1] == 200


def test_a_restarted_process_in_memory_only_does_not_load_the_database(make_storage):
    """memory-only keeps records in the process by design; what the database holds (from
    an earlier step of the cut-over) is not its data."""
    dual = make_storage("dual")
    owner, _ = seed(dual)
    dual.switch("memory-only", reason="walk back", actor="ops")

    restarted = make_storage("memory-only")
    restarted.start()

    assert restarted.users.get(owner.id) is None


# -- the database stops --------------------------------------------------------------------------
@pytest.fixture
def on_cluster(cluster, tmp_path) -> Iterator[Callable[..., Storage]]:
    """Storages on a fresh database of the private cluster (built while it runs)."""
    built: list[Storage] = []
    with cluster.temporary_database() as url:
        engine: Engine = databases.create_engine(url)
        db.metadata.create_all(engine)

        def make(mode: str, **kw) -> Storage:
            kw.setdefault("retry_after", 0.2)
            storage = build_storage(engine, tmp_path / f"journal-{len(built)}.log", mode, **kw)
            built.append(storage)
            return storage

        try:
            yield make
        finally:
            for storage in built:
                storage.close()
            engine.dispose()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.cluster
@pytest.mark.postgres
def test_after_a_restart_a_fallback_serves_every_record_the_database_held(on_cluster, cluster):
    owner, workflow = seed(on_cluster("dual", read_from=DATABASE))
    restarted = on_cluster("dual", read_from=DATABASE)
    restarted.start()

    cluster.stop()

    assert_serves(restarted, owner, workflow)  # from memory, the fallback
    assert restarted.parts.stats.snapshot("users")["backends"][DATABASE]["fallbacks"] >= 1


@pytest.mark.cluster
@pytest.mark.postgres
@pytest.mark.parametrize("read_from", [MEMORY, DATABASE])
def test_a_process_started_while_the_database_is_down_refuses_until_memory_is_loaded(
    on_cluster, cluster, read_from
):
    owner, workflow = seed(on_cluster("dual", read_from=read_from))
    restarted = on_cluster("dual", read_from=read_from, sync_interval=0.1)  # modes loaded
    cluster.stop()
    restarted.start()  # cannot load memory: the database is away

    body, status = health.probe(restarted)
    assert status == 503
    assert body["status"] == "not_ready"
    assert {"users", "workflows"} <= set(body["failing"])
    assert "memory copy is still being loaded" in body["repositories"]["users"]["reason"]
    with pytest.raises(StorageUnavailable):  # not an empty answer
        restarted.users.get_by_email(owner.email)
    with pytest.raises(StorageUnavailable):  # not a duplicate of what the database holds
        restarted.users.add(make_user(email=owner.email))

    cluster.start()
    wait_until(lambda: health.probe(restarted)[1] == 200, "memory to be loaded")
    assert_serves(restarted, owner, workflow)
    assert restarted.verify()["differences"] == 0


@pytest.mark.cluster
@pytest.mark.postgres
def test_readiness_tells_anonymous_callers_no_driver_detail_while_the_database_is_down(
    on_cluster, cluster, caplog
):
    storage = on_cluster("database-only")
    cluster.stop()

    with caplog.at_level(logging.WARNING, logger="wfplatform.api.health"):
        body, status = health.probe(storage)
        health.probe(storage)  # probed again: logged once

    assert status == 503
    assert body["database"] == {"reachable": False, "error": health.DATABASE_DOWN}
    text = json.dumps(body)
    for detail in ("127.0.0.1", str(cluster.port), "postgres", "refused", "connection"):
        assert detail not in text
    logged = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(logged) == 1 and str(cluster.port) in logged[0]  # the operator's detail
    assert str(cluster.port) in storage.parts.health.last_error  # admins: GET /admin/migration


def test_walking_back_from_database_only_to_dual_loads_the_stale_memory_copy(make_storage):
    """Memory stopped following the database in `database-only`: back in `dual`, a
    fallback must not serve that stale copy, so the process loads it first."""
    storage = make_storage("database-only")
    owner, workflow = seed(storage)

    storage.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    assert storage.serving_mode("users").can_fall_back is False  # not loaded yet
    storage.catch_up()  # what the background worker does within a second

    assert storage.serving_mode("users").can_fall_back is True
    assert storage.in_memory("users").fetch(owner.id) == owner
    assert storage.in_memory("workflows").fetch(workflow.id) == workflow
    assert storage.verify()["differences"] == 0


def test_a_walk_back_switched_by_another_process_loads_memory_too(make_storage):
    storage = make_storage("database-only")
    other = make_storage("database-only")  # another process on the same database
    owner, _ = seed(storage)

    other.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    storage.follow_mode_changes()
    storage.catch_up()

    assert storage.in_memory("users").fetch(owner.id) == owner
