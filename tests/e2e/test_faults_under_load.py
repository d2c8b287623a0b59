"""Faults under load, with real processes: `gunicorn wfplatform.wsgi:app` on a private
PostgreSQL cluster (tests/cluster.py, never the shared server), a few client threads
writing and reading, and the cluster stopped (an immediate stop, like a crash) for a few
seconds and started again while they do.

Afterwards every write the service acknowledged is in the database and in what the API
answers, verify finds no difference, and the counters account for the outage. In
`database-only` the outage is a 503 in the error shape with `Retry-After`, no request
outlives the database's time bounds, and the service recovers by itself.

The memory-first modes keep records per process: these run one worker with threads.
`pytest -m soak tests/e2e/test_faults_under_load.py -s` runs a longer, heavier load."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cluster import PostgresCluster
from tests.e2e.load import Client, Outage, Tally, run_load
from tests.e2e.service import Service, running_service
from tests.figures import report

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]
DATA = ("users", "workflows")


@dataclasses.dataclass(frozen=True)
class Load:
    clients: int = 3
    before: int = 30  # requests before the fault
    outage_seconds: float = 2.0
    outages: int = 1
    after: int = 45  # requests after each restart
    drain_seconds: float = 30  # how long the journal may take to replay once the load stops


CI_LOAD = Load()
SOAK_LOAD = Load(
    clients=8, before=200, outage_seconds=10.0, outages=3, after=400, drain_seconds=600
)
LOADS = [
    pytest.param(CI_LOAD, id="ci"),
    pytest.param(SOAK_LOAD, id="soak", marks=pytest.mark.soak),
]
API_SAMPLE = 5  # acknowledged workflows per client also read back through the API
SERVICE = {"WF_DB_RETRY_AFTER": "0.5", "WF_SYNC_INTERVAL": "0.2"}


@pytest.fixture
def database(cluster: PostgresCluster) -> Iterator[str]:
    with cluster.temporary_database() as url:  # starts the cluster again if a test stopped it
        yield url


# -- driving the load -------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    service: Service
    clients: list[Client]
    tally: Tally
    outage: Outage


def load_through_outages(service: Service, cluster: PostgresCluster, load: Load) -> Run:
    tally, outage = Tally(), Outage()
    clients = [Client(service, tally, outage, f"client{n}") for n in range(load.clients)]
    for client in clients:
        client.sign_up()
    keep_going = threading.Event()
    keep_going.set()
    loader = threading.Thread(target=run_load, args=(clients, keep_going), daemon=True)
    loader.start()
    try:
        wait_for_requests(tally, load.before)
        for _ in range(load.outages):
            cluster.stop()
            outage.begin()
            time.sleep(load.outage_seconds)
            outage.end()
            cluster.start()
            wait_for_requests(tally, tally.sent + load.after)
    finally:
        keep_going.clear()
        loader.join(timeout=150)
        cluster.start()
    assert not loader.is_alive(), "the load never finished"
    return Run(service, clients, tally, outage)


def wait_for_requests(tally: Tally, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while tally.sent < count:
        assert time.monotonic() < deadline, f"only {tally.sent} of {count} requests were sent"
        time.sleep(0.05)


def wait_until(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# -- what is checked afterwards -----------------------------------------------------------------
def database_rows(url: str) -> tuple[dict[str, dict], set[str]]:
    """(workflows by id as name and version, user ids) read straight from the database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            workflows = {
                row.id: {"name": row.name, "version": row.version}
                for row in connection.execute(sa.text("SELECT id, name, version FROM workflows"))
            }
            users = set(connection.scalars(sa.text("SELECT id FROM users")))
    finally:
        engine.dispose()
    return workflows, users


def assert_every_acknowledged_write_is_stored(run: Run, url: str) -> dict:
    """In the database, and (for each client's last few) in what the API answers the
    owner in the service's mode; returns the figures."""
    in_database, user_ids = database_rows(url)
    acknowledged = found = 0
    for client in run.clients:
        states = client.acknowledged()
        for key, state in states.items():
            acknowledged += 1
            assert in_database.get(key) == state, f"workflow {key}"  # None: still deleted
            found += 1
        for key, state in list(states.items())[-API_SAMPLE:]:
            status, body, _ = run.service.call("GET", f"/api/workflows/{key}", token=client.token)
            answered = {"name": body["name"], "version": body["version"]} if state else None
            assert (status, answered) == (200 if state else 404, state), body
        missing_users = client.users.keys() - user_ids
        assert not missing_users, f"acknowledged registrations lost: {missing_users}"
        acknowledged += len(client.users)
        found += len(client.users)
    return {"records_acknowledged": acknowledged, "records_found": found}


def assert_load_was_clean(tally: Tally) -> None:
    assert tally.unanswered == 0, tally.summary()
    assert not tally.unexpected_conflicts, tally.unexpected_conflicts
    assert not tally.unclear_errors, tally.unclear_errors[:5]
    assert not tally.refused_without_retry_after, tally.refused_without_retry_after[:5]


def admin_overview(service: Service, token: str) -> dict:
    status, body, _ = service.call("GET", "/admin/migration", token=token)
    assert status == 200, body
    return body


def assert_counters_account_for_the_outage(run: Run, token: str, load: Load) -> dict:
    """Every journaled change was replayed; the faults were counted as errors and
    fallbacks; /metrics says what /admin/migration says."""
    load_stopped = time.monotonic()
    pending = admin_overview(run.service, token)["journal"]
    overview = wait_until(
        lambda: (o := admin_overview(run.service, token))["journal"] == 0 and o,
        "the journal to be replayed",
        timeout=load.drain_seconds,
    )
    drained_in = time.monotonic() - load_stopped
    stats = {name: overview["repositories"][name]["stats"] for name in overview["repositories"]}
    journaled = {name: s["journaled"] for name, s in stats.items()}
    replayed = {name: s["replayed"] for name, s in stats.items()}
    assert journaled == replayed, (journaled, replayed)
    assert sum(journaled[name] for name in DATA) >= run.tally.writes_acknowledged_during_outage
    errors = sum(s["backends"]["database"]["errors"] for s in stats.values())
    fallbacks = sum(s["backends"]["database"]["fallbacks"] for s in stats.values())
    assert errors >= run.outage.faults  # each outage met by a request or by the replay
    assert fallbacks >= 1  # writes journaled, or reads served by memory, after a failure
    for counter, values in (("journaled", journaled), ("replayed", replayed)):
        scraped = run.service.metric(f"wf_storage_{counter}_total")
        assert {dict(labels)["repository"]: value for labels, value in scraped.items()} == values
    assert sum(run.service.metric("wf_storage_errors_total").values()) == errors
    assert sum(run.service.metric("wf_storage_fallbacks_total").values()) == fallbacks
    return {
        "journaled": sum(journaled.values()),
        "replayed": sum(replayed.values()),
        "database_errors": errors,
        "fallbacks": fallbacks,
        "reads_served_by_memory": sum(s["backends"]["memory"]["reads"] for s in stats.values()),
        "journal_entries_when_the_load_stopped": pending,
        "journal_drained_in_seconds": round(drained_in, 1),
    }


def verify_differences(service: Service, token: str) -> int:
    status, report, _ = service.call("POST", "/admin/migration/verify", {}, token)
    assert status == 200, report
    return report["differences"]


# -- dual: the outage is absorbed ---------------------------------------------------------------
@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("read_from", ["memory", "database"])
def test_dual_acknowledges_every_write_through_a_database_outage_and_loses_none(
    database, cluster, tmp_path: Path, read_from: str, load: Load
):
    settings = {**SERVICE, "WF_READ_FROM": read_from}
    with running_service(database, tmp_path, "dual", threads=8, **settings) as service:
        run = load_through_outages(service, cluster, load)
        token = service.login()
        counters = assert_counters_account_for_the_outage(run, token, load)
        stored = assert_every_acknowledged_write_is_stored(run, database)
        differences = verify_differences(service, token)

        assert run.tally.server_errors == 0, run.tally.summary()
        assert_load_was_clean(run.tally)
        assert run.tally.writes_acknowledged_during_outage > 0, "no write met the outage"
        assert differences == 0
        assert counters["reads_served_by_memory"] > 0  # in dual reading the database: fallbacks
    report(
        f"dual-read-{read_from}-{load.clients}x{load.outages}",
        {
            **run.tally.summary(),
            **stored,
            **counters,
            "faults_injected": run.outage.faults,
            "differences": differences,
        },
    )


# -- database-only: refused clearly, never hanging, recovered by itself ---------------------------
STATEMENT_TIMEOUT = 1  # seconds, for the test: the default is in wfplatform/config.py


def assert_recovers_by_itself(service: Service, client: Client) -> None:
    """Readiness and writes succeed again without anyone restarting anything (once the
    circuit breaker's pause after the last fault, WF_DB_RETRY_AFTER, is over)."""
    wait_until(lambda: service.call("GET", "/health/ready")[0] == 200, "readiness", timeout=10)
    create = {"name": "after the outage"}
    wait_until(lambda: client.request("POST", "/api/workflows", create)[0] == 201, "a write", 10)


def hold_a_table_lock(url: str, client: Client) -> tuple[int, object, float]:
    """A database that accepts connections but never finishes a statement: another
    session holds a lock every read of workflows waits for. (status, body, seconds waited)
    of a list request meanwhile."""
    blocker = sa.create_engine(url)
    try:
        with blocker.connect() as connection:
            connection.execute(sa.text("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            status, body = client.request("GET", "/api/workflows")
            waited = time.monotonic() - started
            connection.rollback()
    finally:
        blocker.dispose()
    return status, body, waited


@pytest.mark.parametrize("load", LOADS)
def test_database_only_refuses_with_503_during_an_outage_and_recovers_by_itself(
    database, cluster, tmp_path: Path, load: Load
):
    """Two faults: the cluster stopped under load, then a statement that never finishes
    (503 after WF_DB_STATEMENT_TIMEOUT, not a hang)."""
    settings = {**SERVICE, "WF_DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT)}
    with running_service(database, tmp_path, "database-only", threads=8, **settings) as service:
        run = load_through_outages(service, cluster, load)
        assert_recovers_by_itself(service, run.clients[0])
        stored = assert_every_acknowledged_write_is_stored(run, database)
        status, body, waited = hold_a_table_lock(database, run.clients[0])
        assert_recovers_by_itself(service, run.clients[0])

    statuses = run.tally.statuses
    assert statuses[503] > 0, run.tally.summary()  # the outage was met, and refused
    assert run.tally.server_errors == statuses[503]  # nothing but 503s
    assert_load_was_clean(run.tally)  # every 503 in the error shape with Retry-After
    assert run.tally.slowest < STATEMENT_TIMEOUT + 5, run.tally.summary()
    assert (status, body["error"]["code"]) == (503, "storage_unavailable"), body
    assert STATEMENT_TIMEOUT <= waited < STATEMENT_TIMEOUT + 5
    report(
        f"database-only-{load.clients}x{load.outages}",
        {
            **run.tally.summary(),
            **stored,
            "faults_injected": run.outage.faults + 1,
            "hung_statement_answered_after_seconds": round(waited, 2),
        },
    )


# -- a worker killed while its journal holds writes ------------------------------------------------
WAITING_AT_START = "waiting for it before serving"  # what a starting worker logs meanwhile


def journaled_changes(path: Path) -> int:
    """The record changes waiting in a journal file (every line is pending: the file is
    emptied once everything in it is replayed)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(len(json.loads(line)["changes"]) for line in lines)


def test_writes_journaled_by_a_worker_killed_with_sigkill_reach_the_database(
    database, cluster, tmp_path: Path
):
    with running_service(database, tmp_path, "dual", threads=4, **SERVICE) as service:
        tally, outage = Tally(), Outage()
        client = Client(service, tally, outage, "killed")
        client.sign_up()
        killed = service.worker_pids()
        cluster.stop()
        outage.begin()
        for step in range(30):
            client.step() if step % 3 else client.create()
        assert tally.writes_acknowledged_during_outage >= 20, tally.summary()

        for pid in killed:
            os.kill(pid, signal.SIGKILL)  # mid-outage: nothing is flushed or closed
        left_behind = journaled_changes(tmp_path / "journal.log")
        # gunicorn starts another worker at once, while the database is still down: it
        # must wait for the database, not fail to boot (gunicorn would then stop serving)
        wait_until(
            lambda: WAITING_AT_START in service.log() or service.process.poll() is not None,
            "the new worker to wait for the database, or gunicorn to give up",
        )
        assert service.process.poll() is None, service.log()[-3000:]
        outage.end()
        cluster.start()
        service.wait_ready()
        token = service.login()
        overview = wait_until(
            lambda: (o := admin_overview(service, token))["journal"] == 0 and o,
            "the journal left behind to be replayed",
        )

    in_database, user_ids = database_rows(database)
    acknowledged = client.acknowledged()
    found = {key: in_database.get(key) for key in acknowledged}
    assert found == acknowledged  # a deleted workflow (None) stays deleted
    assert client.users.keys() <= user_ids
    stats = [repository["stats"] for repository in overview["repositories"].values()]
    replayed = sum(s["replayed"] for s in stats)
    journaled_since = sum(s["journaled"] for s in stats)  # by the new worker (its login)
    assert replayed == left_behind + journaled_since
    assert_load_was_clean(tally)
    report(
        "sigkill-dual-read-memory",
        {
            **tally.summary(),
            "records_acknowledged": len(acknowledged),
            "records_found": sum(found[key] == state for key, state in acknowledged.items()),
            "changes_left_in_the_journal": left_behind,
            "replayed_by_the_next_worker": replayed,
            "faults_injected": 2,
        },
    )
