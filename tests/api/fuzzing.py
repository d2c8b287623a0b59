"""What the OpenAPI fuzz tests share: the apps they attack, the schemathesis configuration,
and the few rules a generated request must follow that the document can only state in words.

Nothing here names a route: the tests walk the document, so a new route is fuzzed as soon
as it is documented."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig

from tests import databases
from tests.api.conftest import app_config, login, make_admin, register
from tests.apps import close_app
from wfplatform import create_app
from wfplatform.extensions import db

# (mode, read_from, database): memory-only needs no server; the modes that write to the
# database run on PostgreSQL, where NUL and surrogates fail.
POSTGRES = pytest.mark.postgres
FUZZ_MODES = [
    pytest.param(("memory-only", None, "sqlite"), id="memory-only"),
    pytest.param(("dual", "database", "postgres"), id="dual", marks=POSTGRES),
    pytest.param(("database-only", None, "postgres"), id="database-only", marks=POSTGRES),
]
LONG_ONLY_MODES = [
    pytest.param(
        ("dual", "memory", "postgres"),
        id="dual-read-memory",
        marks=[POSTGRES, pytest.mark.fuzz_long],
    ),
]
ROLES = ["user", "admin"]
SEED = 20261201
# Valid by the document yet refused for a reason no schema can state: 409 (taken, stale,
# over a quota), 423 (a locked account), besides schemathesis' defaults.
ACCEPTED_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "423", "429", "5xx"]


# Checks left out for an operation, and why: each is a rule between members or an order,
# which the operation's description states and no JSON Schema of the document can.
EXCLUDED_CHECKS = [
    ("PUT", "/admin/migration/mode", "positive_data_acceptance", "read_from fits the mode"),
    ("POST", "/admin/migrations", "positive_data_acceptance", "resume needs dry_run false"),
    (
        "POST",
        "/admin/import",
        "positive_data_acceptance",
        "an export's members and records come in an order",
    ),
]


def fuzz_config(**extra: Any) -> SchemathesisConfig:
    """Every check, a fixed seed, derandomized: the same cases on every run."""
    return SchemathesisConfig.from_dict(
        {
            **extra,
            "seed": SEED,
            # NUL is refused wherever it is sent (the document says so in its description;
            # no JSON Schema keyword states it for every string): the unstorable-text test
            # sends it, and lone surrogates, on purpose.
            "generation": {
                "deterministic": True,
                "allow-x00": False,
                **extra.get("generation", {}),
            },
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUSES},
            },
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {check: {"enabled": False}},
                }
                for method, path, check, _why in EXCLUDED_CHECKS
            ],
        }
    )


def database_url(request, tmp_path, kind: str) -> str:
    url = (
        f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = databases.create_engine(url)
    db.metadata.create_all(engine)
    databases.stamp_head(engine)
    databases.empty_all_tables(engine, db.metadata)
    engine.dispose()
    return url


@contextmanager
def fuzzed_app(request, tmp_path, mode: str, read_from: str | None, kind: str) -> Iterator[Flask]:
    """A fresh service; on the way out, waits for the background jobs the fuzzer started
    (dry-run backfills, imports) so none outlives its storage. Jobs run on non-daemon
    threads; the daemon ones are the service's own loops (the rate limiter's sweeper...),
    which live as long as what they serve and end with it."""
    config = app_config(database_url(request, tmp_path, kind), mode, read_from, tmp_path)
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    threads = set(threading.enumerate())
    yield app
    deadline = time.monotonic() + 30
    jobs = [thread for thread in set(threading.enumerate()) - threads if not thread.daemon]
    for thread in jobs:
        thread.join(max(0.0, deadline - time.monotonic()))
    close_app(app)


def credentials(app: Flask, role: str) -> dict:
    client = app.test_client()
    if role == "admin":
        return make_admin(app, client)
    return login(client, register(client)["email"])


def document(**config: Any) -> schemathesis.BaseSchema:
    """The OpenAPI document, from an app that stores nothing (it does not depend on the
    storage mode); the tests send each case to an app of their own."""
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "WF_START_STORAGE": False}
    )
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=fuzz_config(**config))


def is_coverage(case) -> bool:
    return case.meta is not None and case.meta.phase.name.value == "coverage"


# Fixed members for operations that would take the service away from the later cases.
FIXED_BODY = {
    # A real switch (forced, say) can leave the accounts behind in the backend no longer
    # read: every later case would be a 401. The guards are tested in test_cutover_api.
    ("PUT", "/admin/migration/mode"): {"dry_run": True},
}


def prepare(case) -> None:
    """Fixed safe members where a real run would disturb the later cases; valid graphs
    (see `valid_graphs`) in positive cases."""
    fixed = FIXED_BODY.get((case.method.upper(), case.operation.path), {})
    if fixed and isinstance(case.body, dict):
        case.body.update(fixed)
    if case.meta is not None and case.meta.generation.mode.is_positive:
        valid_graphs(case.body)


def valid_graphs(value: Any) -> None:
    """The workflow graph rules the document states in words only: node ids are unique and
    not blank, types are not blank, an edge joins two nodes of its own workflow."""
    if isinstance(value, list):
        for item in value:
            valid_graphs(item)
    if not isinstance(value, dict):
        return
    for item in value.values():
        valid_graphs(item)
    if isinstance(value.get("nodes"), list) or isinstance(value.get("edges"), list):
        nodes = value.setdefault("nodes", [])
        ids = _unique_ids(node for node in nodes if isinstance(node, dict))
        edges = value.setdefault("edges", [])
        if not ids:
            edges.clear()
        for index, edge in enumerate(edge for edge in edges if isinstance(edge, dict)):
            for end in ("from", "to"):
                if edge.get(end) not in ids:
                    edge[end] = ids[index % len(ids)]


def _unique_ids(nodes) -> list[str]:
    ids: list[str] = []
    for index, node in enumerate(nodes):
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id.strip() or node_id in ids:
            node["id"] = next(f"node-{n}" for n in range(index, 10**6) if f"node-{n}" not in ids)
        if not isinstance(node.get("type"), str) or not node["type"].strip():
            node["type"] = "noop"
        ids.append(node["id"])
    return ids


class Figures:
    """What a fuzz run sent and got back, printed at the end of the module."""

    def __init__(self) -> None:
        self.statuses: dict[str, Counter] = {}

    def record(self, run: str, status: int) -> None:
        self.statuses.setdefault(run, Counter())[status] += 1

    def lines(self) -> list[str]:
        lines = []
        for run, counts in sorted(self.statuses.items()):
            errors = sum(n for status, n in counts.items() if status >= 500)
            lines.append(f"{run}: {sum(counts.values())} requests, {errors} answered 5xx")
        return lines


def string_leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """The paths to the strings in a JSON value (dictionary keys excluded)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from string_leaves(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, index))


def replaced(value: Any, path: tuple, text: str) -> Any:
    """A copy of `value` with the string at `path` replaced by `text`."""
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, text)}
    return [replaced(item, rest, text) if i == head else item for i, item in enumerate(value)]
