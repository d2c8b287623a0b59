"""`executions`: the execution table's lists, and a 10-node workflow run many times.

First, `executions` rows (of 1,000 users, 10 workflows each; finished but for the newest:
20 running, 200 queued) are copied into PostgreSQL: each list the API and the sweeper run is timed
(median of 5) and its plan printed, with the indexes it reads in the row's note.

Then the workflow (a trigger, `set`, `if`, `merge`, `noop`: the engine's own work, no
waiting) runs `count` times on PostgreSQL in `database-only`, in three ways side by side,
interleaved: the in-process queue (two threads in this process), and RQ on the machine's
Redis with one and with two `flask wf worker` processes. Figures: runs and node executions
per second from the first submission to the last run's end, and, from the in-process
runs, the database writes each node and each run cost (every INSERT and UPDATE counted).
Target: at most two writes per node (its start and its end). Without Redis on
127.0.0.1:6379 (`WF_BENCH_REDIS_URL`) the RQ rows are left out."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from wfplatform.domain.codec import utcnow
from wfplatform.domain.executions import Execution
from wfplatform.domain.users import User
from wfplatform.executions.engine import ExecutionEngine
from wfplatform.executions.service import Executions
from wfplatform.executions.settings import EngineSettings
from wfplatform.repositories.executions import ExecutionQuery, SqlExecutionRepository
from wfplatform.repositories.users import SqlUserRepository
from wfplatform.services.context import Actor
from wfplatform.services.credentials import Credentials
from wfplatform.services.encryption import KeyRing
from wfplatform.services.workflows import Workflows

from .postgres import ROOT, Databases, create_engine
from .records import copy_rows, started_storage
from .report import Row, Target, interleaved, median
from .scale import plans, scans

REDIS_URL = os.environ.get("WF_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RING = "bench-key:" + base64.b64encode(bytes(32)).decode()
NODES = [
    {"id": "start", "type": "manual"},
    {"id": "shape", "type": "set", "parameters": {"values": {"total": "{{ $json.n }}"}}},
    {
        "id": "big",
        "type": "if",
        "parameters": {
            "conditions": [{"left": "{{ $json.total }}", "operator": "greater_than", "right": 5}]
        },
    },
    {"id": "vip", "type": "set", "parameters": {"values": {"tier": "vip"}}},
    {"id": "plain", "type": "set", "parameters": {"values": {"tier": "plain"}}},
    {"id": "join", "type": "merge"},
    {"id": "stamp", "type": "set", "parameters": {"values": {"seen": True}}},
    {"id": "check", "type": "noop"},
    {"id": "tidy", "type": "set", "parameters": {"values": {"done": "yes"}}},
    {"id": "end", "type": "noop"},
]
EDGES = [
    {"from": "start", "to": "shape"},
    {"from": "shape", "to": "big"},
    {"from": "big", "to": "vip", "output": 0},
    {"from": "big", "to": "plain", "output": 1},
    {"from": "vip", "to": "join"},
    {"from": "plain", "to": "join"},
    {"from": "join", "to": "stamp"},
    {"from": "stamp", "to": "check"},
    {"from": "check", "to": "tidy"},
    {"from": "tidy", "to": "end"},
]
# the input's items reach one branch of the `if` each: every node runs
INPUT = [{"n": 10}, {"n": 1}]


class Site:
    """A user and the 10-node workflow on a storage, and a way to run a batch through an
    engine on it."""

    def __init__(self, storage) -> None:
        self.storage = storage
        user = storage.users.add(
            User(email=f"{uuid.uuid4().hex}@bench", name="bench", password_hash="x" * 20)
        )
        self.actor = Actor(user.id)
        fields = {"name": "ten nodes", "nodes": NODES, "edges": EDGES}
        self.workflow = Workflows(storage).create(self.actor, fields)

    def batch(self, executions: Executions, count: int) -> float:
        """Seconds from the first submission to the end of the last of `count` runs."""
        started = time.perf_counter()
        made = [executions.execute(self.actor, self.workflow.id, INPUT) for _ in range(count)]
        for execution in made:
            finished = executions.wait(execution, 120)
            assert finished.status == "success", (finished.status, finished.error)
        return time.perf_counter() - started


@contextmanager
def counted_writes(engine):
    """INSERTs and UPDATEs by table while inside."""
    writes: Counter = Counter()

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        words = statement.split(None, 3)
        if words and words[0] in ("INSERT", "UPDATE"):
            table = words[2] if words[0] == "INSERT" else words[1]
            writes[table.strip('"')] += len(parameters) if executemany else 1

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield writes
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def _redis_answers() -> bool:
    try:
        from redis import Redis

        with Redis.from_url(REDIS_URL, socket_connect_timeout=1) as probe:
            return bool(probe.ping())
    except Exception:
        return False


def _workers(url: str, queue: str, count: int, folder: Path, stack: ExitStack) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WF_STORAGE_MODE": "database-only",
        "WF_ENCRYPTION_KEYS": RING,
        "WF_SECRET_KEY": "bench",
        "WF_JOURNAL_PATH": str(folder / f"{queue}.log"),
        "WF_EXECUTION_QUEUE_URL": REDIS_URL,
        "WF_EXECUTION_QUEUE_NAME": queue,
        "WF_LOG_LEVEL": "WARNING",
        "WF_LOG_FORMAT": "text",
    }
    command = [sys.executable, "-m", "flask", "--app", "wfplatform", "wf", "worker"]
    for n in range(count):
        output = stack.enter_context(open(folder / f"{queue}-{n}.out", "ab"))
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        stack.callback(_stop, process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


USERS, WORKFLOWS_PER_USER = 1_000, 10
FINISHED_CYCLE = ["success"] * 16 + ["failed", "failed", "cancelled", "crashed"]
LIVE = {"running": 20, "queued": 200}  # the newest rows: what the limits let run, and wait


def execution_table(rows: int) -> tuple[list[User], list[Execution]]:
    users = [
        User(email=f"u{n}@bench", name=f"user {n}", password_hash="x" * 20) for n in range(USERS)
    ]
    flows = [[str(uuid.uuid4()) for _ in range(WORKFLOWS_PER_USER)] for _ in users]
    now = utcnow()
    made = []
    live = [status for status, many in LIVE.items() for _ in range(many)]
    for n in range(rows):
        owner, newest = n % USERS, rows - n
        status = (
            live[newest - 1] if newest <= len(live) else FINISHED_CYCLE[n % len(FINISHED_CYCLE)]
        )
        at = now - timedelta(seconds=rows - n)
        made.append(
            Execution(
                workflow_id=flows[owner][n // USERS % WORKFLOWS_PER_USER],
                user_id=users[owner].id,
                workflow_version=1,
                status=status,
                input={"n": n},
                runner="bench" if status == "running" else None,
                lease_expires_at=at + timedelta(seconds=30) if status == "running" else None,
                created_at=at,
                updated_at=at,
            )
        )
    return users, made


def _lists(databases: Databases, rows: int) -> list[Row]:
    url = databases.fresh()
    users, made = execution_table(rows)
    engine = create_engine(url)
    copy_rows(engine, [(users, SqlUserRepository), (made, SqlExecutionRepository)])
    with engine.connect() as connection:
        connection.execute(sa.text("ANALYZE executions"))
        connection.commit()
    engine.dispose()
    someone, flow = made[-1].user_id, made[-1].workflow_id
    since = made[rows // 2].created_at
    reads = {
        "a user's runs, newest first": lambda s: s.executions.list(ExecutionQuery(user_id=someone)),
        "a workflow's runs": lambda s: s.executions.list(ExecutionQuery(workflow_id=flow)),
        "a user's failed runs": lambda s: s.executions.list(
            ExecutionQuery(user_id=someone, status="failed")
        ),
        "everyone's failed runs (admins)": lambda s: s.executions.list(
            ExecutionQuery(status="failed")
        ),
        "a user's runs since a time": lambda s: s.executions.list(
            ExecutionQuery(user_id=someone, since=since)
        ),
        "the sweeper: expired leases": lambda s: s.executions.lease_expired(utcnow(), 100),
        "the sweeper: queued runs": lambda s: s.executions.queued(100),
        "a claim: running runs": lambda s: s.executions.running(),
    }
    found = []
    with started_storage(url, "database-only") as storage:
        for name, read in reads.items():
            shown = plans(storage, lambda read=read: read(storage), "executions")
            print(f"-- PostgreSQL plans, {name}, {rows:,} executions", *shown, sep="\n\n")
            times = []
            for _ in range(5):
                started = time.perf_counter()
                read(storage)
                times.append((time.perf_counter() - started) * 1000)
            note = f"{rows:,} rows; {scans(shown)}"
            found.append(Row("executions", name, median(times), unit="ms", note=note))
    return found


def executions(databases: Databases, count: int, repeat: int, executions: int) -> list[Row]:
    listed = _lists(databases, executions)
    url = databases.fresh()
    settings = EngineSettings(workers=2)
    ring = KeyRing.parse(RING)
    with ExitStack() as stack, started_storage(url, "database-only") as storage:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        site = Site(storage)
        credentials = Credentials(storage, ring)
        local = ExecutionEngine(storage, credentials, settings)
        stack.callback(local.close)
        cases = {"in-process": lambda: site.batch(Executions(storage, local), count)}
        rq = _redis_answers()
        if rq:
            from wfplatform.executions.rq_queue import RqQueue

            for workers in (1, 2):
                name = f"wf-bench-{uuid.uuid4().hex[:8]}-{workers}"
                _workers(url, name, workers, folder, stack)
                queue = RqQueue(REDIS_URL, name)
                engine = ExecutionEngine(storage, credentials, settings, queue)
                stack.callback(engine.close)
                cases[f"rq-{workers}"] = lambda engine=engine: site.batch(
                    Executions(storage, engine), count
                )
            site.batch(Executions(storage, engine), 2)  # every worker is up and warm
        with counted_writes(storage.parts.engine) as writes:
            site.batch(Executions(storage, local), 10)
        seconds = {label: median(found) for label, found in interleaved(cases, repeat).items()}
    nodes = len(NODES)
    per_node = writes["node_executions"] / (10 * nodes)
    per_run = (sum(writes.values()) - writes["node_executions"]) / 10
    rate = {label: count / taken for label, taken in seconds.items()}
    rows = [
        Row("executions", f"runs/s of a {nodes}-node workflow, in-process (2 threads)",
            rate["in-process"], unit="runs/s"),
        Row("executions", "node executions/s, in-process", rate["in-process"] * nodes,
            unit="nodes/s"),
        Row("executions", "database writes per node (its start and its end)", per_node,
            target=Target("<=", 2, "≤ 2", of_figure=True)),
        Row("executions", "database writes per run besides its nodes (record, claim, end)",
            per_run),
    ]  # fmt: skip
    if not rq:
        return [*listed, *rows, Row("executions", "RQ (no Redis at WF_BENCH_REDIS_URL)", 0)]
    return listed + rows + [
        Row("executions", "runs/s on RQ, 1 worker vs in-process", rate["rq-1"],
            rate["in-process"], "runs/s"),
        Row("executions", "runs/s on RQ, 2 workers vs 1 worker", rate["rq-2"], rate["rq-1"],
            "runs/s"),
        Row("executions", "node executions/s on RQ, 2 workers", rate["rq-2"] * nodes,
            unit="nodes/s"),
    ]  # fmt: skip
