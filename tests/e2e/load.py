"""A bounded load of writes and reads against a running service, with a ledger of what the
service acknowledged.

Each client thread owns one account and its workflows, so it alone writes them and knows
their final state: a 2xx answer is an acknowledgement, and the ledger keeps the state it
acknowledged (a removal as None). A request that gets no answer at all (the connection
broke) leaves its record uncertain; the suites count those and expect none."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import uuid
from collections import Counter

from tests.e2e.service import Service

PASSWORD = "load test password"


@dataclasses.dataclass
class Tally:
    """What the load saw. Thread-safe through `lock`."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    statuses: Counter = dataclasses.field(default_factory=Counter)
    slowest: float = 0.0
    unanswered: int = 0
    writes_acknowledged: int = 0
    writes_acknowledged_during_outage: int = 0
    refused_without_retry_after: list = dataclasses.field(default_factory=list)
    unclear_errors: list = dataclasses.field(default_factory=list)
    unexpected_conflicts: list = dataclasses.field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.unanswered

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self) -> dict:
        return {
            "requests_sent": self.sent,
            "statuses": dict(sorted(self.statuses.items())),
            "5xx_seen": self.server_errors,
            "unanswered": self.unanswered,
            "writes_acknowledged": self.writes_acknowledged,
            "writes_acknowledged_during_outage": self.writes_acknowledged_during_outage,
            "slowest_request_seconds": round(self.slowest, 2),
        }


class Outage:
    """Whether the database is down now, as the fault injector declares it."""

    def __init__(self) -> None:
        self._down = threading.Event()
        self.faults = 0

    def begin(self) -> None:
        self.faults += 1
        self._down.set()

    def end(self) -> None:
        self._down.clear()

    @property
    def down(self) -> bool:
        return self._down.is_set()


class Client:
    """One account's client: registers, then runs `step()` over and over."""

    def __init__(self, service: Service, tally: Tally, outage: Outage, name: str) -> None:
        self.service = service
        self.tally = tally
        self.outage = outage
        self.email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
        self.users: dict[str, str] = {}  # id -> email of every account it registered
        self.workflows: dict[str, dict | None] = {}  # id -> acknowledged state (None: deleted)
        self.uncertain: set[str] = set()
        self.token = ""
        self._steps = itertools.count()

    def sign_up(self) -> None:
        status, body = self.request("POST", "/api/auth/register", self._account(self.email))
        assert status == 201, body
        credentials = {"email": self.email, "password": PASSWORD}
        status, body = self.request("POST", "/api/auth/login", credentials)
        assert status == 200, body
        self.token = body["access_token"]

    def _account(self, email: str) -> dict:
        return {"email": email, "password": PASSWORD, "name": email.split("@")[0]}

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, object]:
        during_outage = self.outage.down
        started = time.monotonic()
        try:
            status, answer, answer_headers = self.service.call(
                method, path, body, self.token, headers
            )
        except OSError:
            with self.tally.lock:
                self.tally.unanswered += 1
            return 0, None
        elapsed = time.monotonic() - started
        with self.tally.lock:
            self.tally.statuses[status] += 1
            self.tally.slowest = max(self.tally.slowest, elapsed)
            if method != "GET" and 200 <= status < 300:
                self.tally.writes_acknowledged += 1
                if during_outage and self.outage.down:  # sent and answered while down
                    self.tally.writes_acknowledged_during_outage += 1
            if status == 503 and "Retry-After" not in answer_headers:
                self.tally.refused_without_retry_after.append(path)
            if status >= 500 and not _error_shaped(answer, "storage_unavailable"):
                self.tally.unclear_errors.append((status, path, answer))
        return status, answer

    # -- the load ---------------------------------------------------------------------------
    def step(self) -> None:
        """Mostly workflow writes (create, update with If-Match, delete), reads in between,
        and now and then a new account."""
        n = next(self._steps)
        live = [key for key, state in self.workflows.items() if state and key not in self.uncertain]
        if n % 20 == 19:
            self.register_another()
        elif n % 4 == 0 or not live:
            self.create()
        elif n % 4 == 1:
            self.update(live[n % len(live)], f"renamed at step {n}")
        elif n % 8 == 2:
            self.request("GET", f"/api/workflows/{live[n % len(live)]}")
        elif n % 8 == 6:
            self.request("GET", "/api/workflows?limit=20")
        elif n % 12 == 3:
            self.delete(live[0])
        else:
            self.update(live[-1], f"renamed at step {n}")

    def create(self) -> None:
        status, body = self.request("POST", "/api/workflows", {"name": "created", "tags": ["load"]})
        if 200 <= status < 300:
            self.workflows[body["id"]] = _state(body)

    def update(self, key: str, name: str) -> None:
        state = self.workflows[key]
        headers = {"If-Match": f'"{state["version"]}"'}
        status, body = self.request("PATCH", f"/api/workflows/{key}", {"name": name}, headers)
        self._settle(key, status, _state(body) if 200 <= status < 300 else None)

    def delete(self, key: str) -> None:
        headers = {"If-Match": f'"{self.workflows[key]["version"]}"'}
        status, _ = self.request("DELETE", f"/api/workflows/{key}", headers=headers)
        self._settle(key, status, None)

    def _settle(self, key: str, status: int, acknowledged: dict | None) -> None:
        """Keep an acknowledged state. Without an answer, or with a 5xx, the write may or
        may not have landed: the record is uncertain from then on. A 409 on a record only
        this client writes means an acknowledged write went missing: it is counted."""
        if 200 <= status < 300:
            self.workflows[key] = acknowledged
            return
        if status == 409:
            with self.tally.lock:
                self.tally.unexpected_conflicts.append(key)
        if status == 0 or status >= 500 or status == 409:
            self.uncertain.add(key)

    def register_another(self) -> None:
        email = f"extra-{uuid.uuid4().hex[:8]}@example.com"
        status, body = self.request("POST", "/api/auth/register", self._account(email))
        if status == 201:
            self.users[body["id"]] = email

    def acknowledged(self) -> dict[str, dict | None]:
        return {key: state for key, state in self.workflows.items() if key not in self.uncertain}


def _state(workflow: dict) -> dict:
    return {"name": workflow["name"], "version": workflow["version"]}


def _error_shaped(body: object, code: str) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and body["error"].get("code") == code
        and bool(body["error"].get("message"))
    )


def run_load(clients: list[Client], keep_going: threading.Event, pause: float = 0.02) -> None:
    """Every client steps on its own thread until `keep_going` is cleared."""

    def loop(client: Client) -> None:
        while keep_going.is_set():
            client.step()
            time.sleep(pause)

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a load thread hangs"
