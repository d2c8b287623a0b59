"""`http`: the service under gunicorn (`-k gthread --workers 2 --threads 4`) against the
anchor (`benchmarks.anchor`: bare Flask + Flask-SQLAlchemy, the same gunicorn settings) on
the same PostgreSQL rows, loaded by `wrk` (16 connections) in turns: GET one workflow, GET a
list of 50, POST a workflow, PATCH one's name. The service runs `database-only` with a
bearer token, tracing off, rate limits and quotas raised out of the way; it also runs
traced (OTLP/HTTP export to a local receiver that discards what it gets), in `dual`
reading the database, and in `memory-only` (one worker: memory is per process).

Figures per request and mode: requests/s, p50 and p99 latency, and the CPU the gunicorn
workers spent per request (from /proc). Targets: `database-only` at least 0.7× the
anchor's requests/s for the single GET and the list; tracing costs at most 15 % of the
untraced requests/s (traced at least 0.85×)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from wfplatform.services.encryption import new_entry

from .postgres import ROOT, Databases
from .records import nodes
from .report import Row, Target, interleaved, median

SCRIPTS = ROOT / "scripts"
CONNECTIONS = 16
WRK_THREADS = 2
SEEDED = 200  # workflows of the bench user in each database
ACCOUNT = {"email": "bench@example.com", "password": "bench password 1234", "name": "Bench"}
# The anchor's creates belong to an account of their own: every create of the service reads
# what its owner already stores (the quotas), which the anchor's rows must not enlarge.
ANCHOR_ACCOUNT = {**ACCOUNT, "email": "anchor@example.com", "name": "Anchor"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KINDS = ("get", "list", "create", "update")
ANCHOR, DATABASE_ONLY, TRACED = "anchor", "database-only", "database-only, traced"
TARGET_KINDS = ("get", "list")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token: str | None = None):
    request = urllib.request.Request(base + path, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(request, data=data, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


# -- the local OTLP receiver -------------------------------------------------------------------
class _Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.exports += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[ThreadingHTTPServer]:
    """An OTLP/HTTP receiver on a free port that accepts every export and discards it;
    `.exports` counts them."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    server.exports = 0
    thread = threading.Thread(target=server.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- the servers -------------------------------------------------------------------------------
@dataclass
class Server:
    """One gunicorn master and its workers, as a process tree on a free port."""

    label: str
    app: str
    cwd: Path
    env: dict[str, str]
    log: Path
    workers: int = 2
    ready_path: str = "/health/ready"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    paths: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "-k", "gthread", "--workers", str(self.workers),
            "--threads", "4", "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", self.app,
        ]  # fmt: skip
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                command, cwd=self.cwd, env=self.env, stdout=output, stderr=output
            )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if call(self.base, "GET", self.ready_path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{self.label} did not become ready:\n{tail}")

    def worker_cpu(self) -> float:
        """CPU seconds the workers have used, user and system, every thread."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0
        for child in children:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _service_env(url: str, folder: Path, mode: str, **settings: str) -> dict[str, str]:
    """The service's environment: `folder` (made here) holds its journal."""
    folder.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OTEL_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    return {
        **env,
        "DATABASE_URL": url,
        "WF_STORAGE_MODE": mode,
        "WF_SECRET_KEY": "benchmark signing key shared by every worker",
        "WF_ENCRYPTION_KEYS": new_entry("bench"),
        "WF_JOURNAL_PATH": str(folder / "journal.log"),
        "WF_RATELIMIT_API": "10000000 per minute",
        "WF_RATELIMIT_LOGIN": "10000000 per minute",
        "WF_QUOTA_WORKFLOWS": "0",
        "WF_QUOTA_VERSIONS": "0",
        "WF_QUOTA_BYTES": "0",
        **settings,
    }


def workflow_body(n: int) -> dict:
    return {
        "name": f"Workflow {n}",
        "description": f"benchmark workflow number {n}",
        "tags": [f"tag-{n % 50}", "bench"],
        "nodes": nodes(n),
        "edges": [{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(4)],
        "settings": {"timezone": "UTC"},
    }


def _seed(service: Server, count: int, account: dict = ACCOUNT) -> tuple[str, str]:
    """`account` and `count` workflows of it; (token, user id)."""
    status, body = call(service.base, "POST", "/api/auth/register", account)
    assert status == 201, (status, body)
    login = {"email": account["email"], "password": account["password"]}
    status, body = call(service.base, "POST", "/api/auth/login", login)
    assert status == 200, (status, body)
    token = body["access_token"]
    for n in range(count):
        status, body = call(service.base, "POST", "/api/workflows", workflow_body(n), token)
        assert status == 201, (status, body)
        service.ids.append(body["id"])
    return token, call(service.base, "GET", "/api/users/me", token=token)[1]["id"]


def _as_service(server: Server, token: str, ids: list[str]) -> None:
    server.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    server.paths = {
        "get": "/api/workflows/{id}",
        "list": "/api/workflows?limit=50",
        "create": "/api/workflows",
        "update": "/api/workflows/{id}",
    }
    server.ids = ids


def _as_anchor(server: Server, owner: str, creator: str, ids: list[str]) -> None:
    server.headers = {"Content-Type": "application/json"}
    server.paths = {
        "get": "/workflows/{id}",
        "list": f"/workflows?owner={owner}&limit=50",
        "create": f"/workflows?owner={creator}",
        "update": "/workflows/{id}",
    }
    server.ids = ids


# -- wrk ---------------------------------------------------------------------------------------
LUA = """
ids = {%(ids)s}
headers = {%(headers)s}
body = %(body)s
request = function()
  local path = string.gsub([==[%(path)s]==], "{id}", ids[math.random(#ids)])
  return wrk.format("%(method)s", path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
METHODS = {"get": "GET", "list": "GET", "create": "POST", "update": "PATCH"}


def _lua(server: Server, kind: str) -> str:
    body = {"create": json.dumps(workflow_body(0)), "update": '{"name": "renamed"}'}.get(kind)
    return LUA % {
        "ids": ", ".join(f'"{id_}"' for id_ in server.ids),
        "headers": ", ".join(f'["{name}"] = "{value}"' for name, value in server.headers.items()),
        "body": f"[==[{body}]==]" if body else "nil",
        "path": server.paths[kind],
        "method": METHODS[kind],
    }


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench.py http needs wrk: apt-get install -y wrk")
    return found


def load(server: Server, kind: str, seconds: float, folder: Path) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms, worker CPU ms per request."""
    script = folder / f"{server.port}-{kind}.lua"
    script.write_text(_lua(server, kind))
    before = server.worker_cpu()
    finished = subprocess.run(
        [require_wrk(), f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s",
         "--timeout", "10s", "-s", str(script), server.base],
        capture_output=True, text=True,
    )  # fmt: skip
    if finished.returncode:
        raise SystemExit(f"wrk failed on {server.label} {kind}: {finished.stderr}{finished.stdout}")
    cpu = server.worker_cpu() - before
    line = next(line for line in finished.stdout.splitlines() if line.startswith("WRK "))
    found = json.loads(line.removeprefix("WRK "))
    requests = max(found["requests"], 1)
    return {
        "requests/s": found["requests"] / (found["duration_us"] / 1e6),
        "p50": found["p50_us"] / 1000,
        "p99": found["p99_us"] / 1000,
        "cpu": cpu * 1000 / requests,
        "failed": found["non2xx"] + found["socket_errors"],
        "requests": found["requests"],
    }


# -- the benchmark -----------------------------------------------------------------------------
def _servers(stack: ExitStack, databases: Databases, folder: Path, sink) -> dict[str, Server]:
    db_only, dual, memory = databases.fresh(), databases.fresh(), databases.fresh()
    service = "wfplatform.wsgi:app"
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"}
    servers = {
        DATABASE_ONLY: Server(DATABASE_ONLY, service, ROOT, _service_env(db_only, folder / "a",
                              "database-only"), folder / "database-only.log"),
        TRACED: Server(TRACED, service, ROOT, _service_env(db_only, folder / "b", "database-only",
                       **endpoint), folder / "traced.log"),
        "dual reading the database": Server("dual", service, ROOT, _service_env(dual, folder / "c",
                       "dual", WF_READ_FROM="database", WF_FALLBACK="false"), folder / "dual.log"),
        "memory-only (1 worker)": Server("memory-only", service, ROOT, _service_env(memory,
                       folder / "d", "memory-only"), folder / "memory.log", workers=1),
        ANCHOR: Server(ANCHOR, "benchmarks.anchor:app", SCRIPTS,
                       {**os.environ, "ANCHOR_DATABASE_URL": db_only}, folder / "anchor.log",
                       ready_path="/health"),
    }  # fmt: skip
    for server in servers.values():
        stack.callback(server.stop)
        server.start()
    started = time.monotonic()
    for server in servers.values():
        server.wait_ready()
    print(f"  {len(servers)} servers ready in {time.monotonic() - started:.1f} s", flush=True)
    return servers


def _prepare(servers: dict[str, Server], seeded: int) -> None:
    token, owner = _seed(servers[DATABASE_ONLY], seeded)
    _as_service(servers[DATABASE_ONLY], token, servers[DATABASE_ONLY].ids)
    _as_service(servers[TRACED], token, servers[DATABASE_ONLY].ids)
    _, creator = _seed(servers[DATABASE_ONLY], 0, ANCHOR_ACCOUNT)
    _as_anchor(servers[ANCHOR], owner, creator, servers[DATABASE_ONLY].ids)
    for label, server in servers.items():
        if label not in (DATABASE_ONLY, TRACED, ANCHOR):
            token, _ = _seed(server, seeded)
            _as_service(server, token, server.ids)


def _failures(figures: dict) -> str:
    failed, requests = figures["failed"], figures["requests"]
    return f"{failed:,} of {requests:,} not 2xx" if failed else ""


def _rows(found: dict[str, dict[str, dict]], exports: int) -> list[Row]:
    rows = []
    for kind in KINDS:
        anchor = found[kind][ANCHOR]
        for label, figures in found[kind].items():
            if label == ANCHOR:
                continue
            failed = "; ".join(
                text for text in (_failures(figures), f"anchor: {_failures(anchor)}"
                                  if anchor["failed"] else "") if text
            )  # fmt: skip
            targeted = label == DATABASE_ONLY and kind in TARGET_KINDS
            throughput = Target(">=", 0.7) if targeted else None
            rows += [
                Row("http", f"{kind}: {label} vs anchor, requests/s", figures["requests/s"],
                    anchor["requests/s"], "req/s", target=throughput, note=failed),
                Row("http", f"{kind}: {label} vs anchor, p50", figures["p50"], anchor["p50"], "ms"),
                Row("http", f"{kind}: {label} vs anchor, p99", figures["p99"], anchor["p99"], "ms"),
                Row("http", f"{kind}: {label} vs anchor, worker CPU per request", figures["cpu"],
                    anchor["cpu"], "ms"),
            ]  # fmt: skip
        traced, untraced = found[kind][TRACED], found[kind][DATABASE_ONLY]
        rows.append(
            Row("http", f"{kind}: traced vs untraced (database-only), requests/s",
                traced["requests/s"], untraced["requests/s"], "req/s",
                target=Target(">=", 0.85, "≥ 0.85 (≤ 15 % cost)") if kind in TARGET_KINDS else None,
                note=f"{exports:,} OTLP exports received" if kind == KINDS[-1] else "")
        )  # fmt: skip
    return rows


def http(databases: Databases, seconds: float, repeat: int) -> list[Row]:
    require_wrk()
    seeded = SEEDED if repeat > 1 else 20
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wf-bench-")))
        sink = stack.enter_context(otlp_sink())
        servers = _servers(stack, databases, folder, sink)
        _prepare(servers, seeded)
        found: dict[str, dict[str, dict]] = {}
        for kind in KINDS:
            if seconds >= 3:  # warm every server up first
                for server in servers.values():
                    load(server, kind, 1, folder)
            cases = {label: (lambda s=s, k=kind: load(s, k, seconds, folder))
                     for label, s in servers.items()}  # fmt: skip
            runs = interleaved(cases, repeat)
            found[kind] = {
                label: {key: median(run[key] for run in results) for key in results[0]}
                for label, results in runs.items()
            }
            found[kind].update(
                {label: {**found[kind][label], "failed": sum(r["failed"] for r in results),
                         "requests": sum(r["requests"] for r in results)}
                 for label, results in runs.items()}
            )  # fmt: skip
        exports = sink.exports
    return _rows(found, exports)
