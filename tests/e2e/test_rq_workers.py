"""Executions on RQ worker processes (the machine's Redis, PostgreSQL in database-only):
two `flask wf worker` processes run a batch; one is killed with SIGKILL mid-run. Its run
becomes `crashed`, and only once its lease expired; every other run of the batch ends as
it would have, and the surviving worker runs the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests import databases
from tests.api.conftest import app_config, login, register
from tests.apps import close_app
from tests.conftest import require_postgres
from tests.e2e.service import create_schema, service_environment
from wfplatform import create_app

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
BATCH = 6
LEASE = "2"
FLOW = {
    "name": "Slow",
    "nodes": [
        {"id": "start", "type": "manual"},
        {"id": "pause", "type": "wait", "parameters": {"seconds": 1.5}},
        {"id": "end", "type": "noop"},
    ],
    "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "end"}],
}


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "flask", "--app", "wfplatform", "wf", "worker"]
    with open(log, "ab") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def test_a_worker_killed_mid_run_leaves_only_its_run_crashed(tmp_path, redis_url):
    require_postgres()
    queue_url, queue_name = redis_url
    settings = {
        "WF_EXECUTION_QUEUE_URL": queue_url,
        "WF_EXECUTION_QUEUE_NAME": queue_name,
        "WF_EXECUTION_LEASE_SECONDS": LEASE,
        "WF_EXECUTION_SWEEP_SECONDS": "0.5",
    }
    with ExitStack() as stack:
        url = stack.enter_context(databases.temporary_postgres_database())
        create_schema(url)
        env = service_environment(url, tmp_path, "database-only", **settings)
        workers = [start_worker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
        for worker in workers:
            stack.callback(_stop, worker)
        app = create_app(
            {
                **app_config(url, "database-only", None, tmp_path),
                "WF_EXECUTION_QUEUE_URL": queue_url,
                "WF_EXECUTION_QUEUE_NAME": queue_name,
            },
            instance_path=str(tmp_path / "instance"),
        )
        stack.callback(close_app, app)
        client = app.test_client()
        auth = login(client, register(client)["email"])
        flow = client.post("/api/workflows", json=FLOW, headers=auth).get_json()["id"]
        ids = [
            client.post(f"/api/workflows/{flow}/execute", json={}, headers=auth).get_json()["id"]
            for _ in range(BATCH)
        ]

        followed: list[str] = []  # the last run's events, streamed live by this process
        follower = threading.Thread(
            target=lambda: followed.append(
                client.get(f"/api/executions/{ids[-1]}/events", headers=auth).get_data(True)
            )
        )
        follower.start()

        def runs() -> dict[str, dict]:
            found = client.get("/api/executions?limit=100", headers=auth).get_json()["items"]
            return {run["id"]: run for run in found}

        deadline = time.monotonic() + 60
        while len({r["runner"] for r in runs().values() if r["status"] == "running"}) < 2:
            assert time.monotonic() < deadline, "two workers never ran at once"
            time.sleep(0.05)
        victim = next(r for r in runs().values() if r["status"] == "running")
        pid = int(victim["runner"].split(":")[1])
        assert pid in [worker.pid for worker in workers]
        os.kill(pid, signal.SIGKILL)

        deadline = time.monotonic() + 90
        while any(r["status"] in ("queued", "running") for r in runs().values()):
            assert time.monotonic() < deadline, runs()
            time.sleep(0.1)
        ended = runs()
        assert sorted(ended) == sorted(ids)
        crashed = ended[victim["id"]]
        assert crashed["status"] == "crashed"
        assert crashed["finished_at"] >= victim["lease_expires_at"]
        assert crashed["error"]["runner"] == victim["runner"]
        others = [r for r in ended.values() if r["id"] != victim["id"]]
        assert [r["status"] for r in others] == ["success"] * (BATCH - 1)
        for run in others:
            nodes = client.get(f"/api/executions/{run['id']}", headers=auth).get_json()
            assert [n["status"] for n in nodes["node_executions"]] == ["success"] * 3
        survivors = {r["runner"] for r in others} - {victim["runner"]}
        assert len(survivors) >= 1
        follower.join(timeout=30)
        if ids[-1] != victim["id"]:
            numbers = [
                int(line[4:]) for line in followed[0].splitlines() if line.startswith("id: ")
            ]
            assert numbers == list(range(1, 9))


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
