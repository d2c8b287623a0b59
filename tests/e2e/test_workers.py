"""Several gunicorn workers on one PostgreSQL: a mode switched through one request is
followed by every worker within about two seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests import databases
from tests.conftest import require_postgres
from tests.e2e.service import ADMIN, Service, running_service
from wfplatform.repositories import NAMES

pytestmark = pytest.mark.postgres


def call(service: Service, method: str, path: str, body=None, token: str | None = None):
    return service.call(method, path, body, token)[:2]


@pytest.fixture
def service(tmp_path) -> Iterator[Service]:
    require_postgres()
    with databases.temporary_postgres_database() as url:
        with running_service(url, tmp_path, "database-only", workers=2) as running:
            yield running


def test_every_worker_follows_a_mode_switch_within_two_seconds(service):
    status, body = call(service, "POST", "/api/auth/login", ADMIN)
    assert status == 200, body
    token = body["access_token"]
    switch = {"mode": "dual", "read_from": "database", "reason": "walk back one step"}
    status, body = call(service, "PUT", "/admin/migration/mode", switch, token)
    assert status == 200, body
    switched_at = time.monotonic()

    target = ("dual", "database")
    seen: dict[int, tuple[str, str]] = {}
    workers: set[int] = set()
    while time.monotonic() - switched_at < 10:
        status, overview = call(service, "GET", "/admin/migration", token=token)
        assert status == 200
        workers |= {process["pid"] for process in overview["processes"]}
        users = overview["repositories"]["users"]
        seen[overview["this_process"]["pid"]] = (users["mode"], users["read_from"])
        if len(workers) >= 2 and all(seen.get(worker) == target for worker in workers):
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - switched_at
    assert len(workers) >= 2, f"only saw workers {workers}"
    assert all(seen.get(worker) == target for worker in workers), seen
    assert elapsed < 5, f"took {elapsed:.1f}s (workers poll the modes every second)"


def test_any_worker_answers_for_an_import_job(service):
    token = call(service, "POST", "/api/auth/login", ADMIN)[1]["access_token"]
    status, document = call(service, "GET", "/admin/export", token=token)
    assert status == 200
    status, job = call(service, "POST", "/admin/import", document, token)
    assert status == 202, job

    answers = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(answers) < 20:
        answers.append(call(service, "GET", f"/admin/imports/{job['id']}", token=token))
        if answers[-1][1].get("state") != "running":
            time.sleep(0.05)
    assert {status for status, _ in answers} == {200}, answers
    final = answers[-1][1]
    assert final["state"] == "completed", final
    assert final["result"]["repositories"]["users"]["written"]["identical"] == 1


def scrape_total(service: Service, name: str) -> float:
    return sum(service.metric(name).values())


def test_metrics_add_up_every_worker_whichever_answers_the_scrape(service):
    """Each worker records into shared files (prometheus_client's multiprocess mode):
    counters never go back between scrapes and count every worker's requests."""
    seen = []
    for _ in range(20):
        for _ in range(3):
            assert call(service, "GET", "/health")[0] == 200
        seen.append(scrape_total(service, "wf_http_requests_total"))
    assert seen == sorted(seen), seen  # a scrape of another worker never shows fewer
    assert seen[-1] >= 60  # every request of every worker is counted
    assert scrape_total(service, "wf_storage_operations_total") > 0  # recorded as they happen
    assert scrape_total(service, "wf_storage_mode") == len(NAMES)  # one mode per repository
    deadline = time.monotonic() + 10  # a worker may be slow to start on a busy machine
    while scrape_total(service, "wf_storage_database_up") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scrape_total(service, "wf_storage_database_up") == 1  # the lowest of the workers
