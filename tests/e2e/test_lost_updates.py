"""Lost updates across processes: two gunicorn workers on one PostgreSQL, client threads
racing on the same workflows with `If-Match` (each request lands on either worker). Every
accepted change is in the history, every other attempt is a 409.

The modes that keep records in process memory are single-process by design; here the
database is the primary (`database-only`, and `dual` reading the database).
`pytest -m soak tests/e2e/test_lost_updates.py -s` runs a heavier race."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests import databases
from tests.conftest import require_postgres
from tests.contention import Contention
from tests.e2e.load import PASSWORD
from tests.e2e.service import Service, running_service
from tests.figures import report

pytestmark = pytest.mark.postgres
SCALES = [  # (writers, attempts each)
    pytest.param((6, 12), id="ci"),
    pytest.param((12, 60), id="soak", marks=pytest.mark.soak),
]
FIRST_NAME = "raced"


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    with databases.temporary_postgres_database() as url:
        yield url


def assert_operators_are_warned_that_fallback_serves_per_process_memory(service: Service):
    """Each worker's memory holds only its own writes (verify from either finds
    differences), so a fallback would serve, and journal, stale records: /admin says so."""
    token = service.login()

    def warned() -> bool:
        status, overview, _ = service.call("GET", "/admin/migration", token=token)
        assert status == 200, overview
        return any("fall back to process memory" in warning for warning in overview["warnings"])

    deadline = time.monotonic() + 10  # every worker publishes itself within a few seconds
    while not warned():
        assert time.monotonic() < deadline, "no warning about per-process fallback"
        time.sleep(0.2)


def sender(service: Service, token: str):
    def send(method: str, path: str, body, headers: dict):
        return service.call(method, path, body, token, headers)[:2]

    return send


@pytest.mark.parametrize(
    ("mode", "read_from"),
    [("database-only", ""), ("dual", "database")],
    ids=["database-only", "dual-read-database"],
)
@pytest.mark.parametrize("scale", SCALES)
def test_two_workers_racing_conditional_updates_lose_no_accepted_change(
    database, tmp_path, mode: str, read_from: str, scale: tuple[int, int]
):
    writers, attempts = scale
    settings = {"WF_READ_FROM": read_from} if read_from else {}
    with running_service(database, tmp_path, mode, workers=2, threads=4, **settings) as service:
        account = {"email": "racer@example.com", "password": PASSWORD}
        assert service.call("POST", "/api/auth/register", account)[0] == 201
        token = service.login(account)
        send = sender(service, token)
        first = {"name": FIRST_NAME}
        created = [send("POST", "/api/workflows", first, {})[1]["id"] for _ in range(2)]
        contention = Contention(created)

        contention.race([sender(service, token) for _ in range(writers)], attempts)

        assert contention.statuses[409] > 0, "the writers never raced"
        contention.assert_history_holds_every_accepted_change(send, FIRST_NAME)
        if mode == "dual":
            assert_operators_are_warned_that_fallback_serves_per_process_memory(service)
    report(f"lost-updates-two-workers {mode} {writers}x{attempts}", contention.summary())
