"""The service as users run it: `gunicorn wfplatform.wsgi:app` on a migrated database, as
a real process tree on a free port, and a small JSON client for it.

    with running_service(url, tmp_path, mode="dual", read_from="memory") as service:
        status, body, headers = service.call("POST", "/api/auth/login", ADMIN)

Stopping it (SIGTERM to the master) asserts that no traceback reached its output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import wfplatform.models  # noqa: F401 (registers the tables)
from tests import databases
from tests.factories import KEY_RING
from wfplatform.extensions import db

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"email": "ops@example.com", "password": "e2e admin password"}
REQUEST_TIMEOUT = 30  # seconds: far past every bound the service sets itself


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    def __init__(self, base: str, process: subprocess.Popen, output: Path) -> None:
        self.base = base
        self.process = process
        self.output = output

    def call(
        self,
        method: str,
        path: str,
        body=None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, object, dict[str, str]]:
        """(status, decoded JSON body or None, headers); raises OSError when nothing answers."""
        request = urllib.request.Request(self.base + path, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        data = json.dumps(body).encode() if body is not None else None
        try:
            with urllib.request.urlopen(request, data=data, timeout=REQUEST_TIMEOUT) as response:
                return response.status, _decode(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read()), dict(error.headers)

    def login(self, credentials: dict = ADMIN) -> str:
        status, body, _ = self.call("POST", "/api/auth/login", credentials)
        assert status == 200, body
        return body["access_token"]

    def metric(self, name: str) -> dict[tuple, float]:
        """The samples of one metric at `/metrics`, by their sorted labels."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=REQUEST_TIMEOUT) as response:
            families = text_string_to_metric_families(response.read().decode())
            return {
                tuple(sorted(sample.labels.items())): sample.value
                for family in families
                for sample in family.samples
                if sample.name == name
            }

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the service exited early:\n{self.log()[-3000:]}")
            try:
                if self.call("GET", "/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the service did not become ready:\n{self.log()[-3000:]}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM, wait, and the output (which must hold no traceback)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        return self.log()


def _decode(raw: bytes):
    return json.loads(raw) if raw else None


def service_environment(url: str, tmp_path: Path, mode: str, **settings: str) -> dict[str, str]:
    """The environment of a service on `url`: fast password hashing, no rate limit in the
    way of a load test, the journal in `tmp_path`; `settings` add or override `WF_*`."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "WF_STORAGE_MODE": mode,
        "WF_SECRET_KEY": "e2e signing key shared by every worker",
        "WF_ENCRYPTION_KEYS": KEY_RING,
        "WF_ADMIN_EMAIL": ADMIN["email"],
        "WF_ADMIN_PASSWORD": ADMIN["password"],
        "WF_JOURNAL_PATH": str(tmp_path / "journal.log"),
        "WF_PASSWORD_TIME_COST": "1",
        "WF_PASSWORD_MEMORY_KIB": "1024",
        "WF_RATELIMIT_API": "100000 per minute",
        "WF_RATELIMIT_LOGIN": "100000 per minute",
        "WF_LOG_FORMAT": "text",
        **settings,
    }


def create_schema(url: str) -> None:
    """What `flask db upgrade` leaves, made in-process (a few seconds faster per service;
    tests/integration/test_migrations.py checks the migrations themselves)."""
    engine = databases.create_engine(url)
    try:
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
    finally:
        engine.dispose()


def start_service(env: dict[str, str], output: Path, workers: int = 1, threads: int = 1) -> Service:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--no-control-socket",
        "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "wfplatform.wsgi:app",
    ]  # fmt: skip
    with open(output, "ab") as stream:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stream, stderr=stream)
    service = Service(f"http://127.0.0.1:{port}", process, output)
    service.wait_ready()
    return service


@contextmanager
def running_service(
    url: str,
    tmp_path: Path,
    mode: str,
    *,
    workers: int = 1,
    threads: int = 1,
    **settings: str,
) -> Iterator[Service]:
    """A migrated database and a ready service on it; stopped afterwards, and its output
    must then hold no traceback."""
    env = service_environment(url, tmp_path, mode, **settings)
    create_schema(url)
    service = start_service(env, tmp_path / "service.log", workers, threads)
    try:
        yield service
    finally:
        output = service.stop()
    assert "Traceback" not in output, output[-5000:]
