"""The records the benchmarks store, the storage they store them in, and a raw `COPY` of
them (the floor a bulk load can reach)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine

import wfplatform.models  # noqa: F401 (registers the tables)
from wfplatform import bootstrap
from wfplatform.backends.sql import reading_engine
from wfplatform.domain.codec import comparable
from wfplatform.domain.users import User
from wfplatform.domain.workflows import STATUSES, Workflow
from wfplatform.extensions import db
from wfplatform.repositories.users import SqlUserRepository
from wfplatform.repositories.workflows import SqlWorkflowRepository
from wfplatform.storage.adapter import Storage
from wfplatform.storage.modes import RepositoryMode

from .postgres import create_engine

TAGS = 50  # each workflow carries one of tag-0 ... tag-49, and "bench"
NODE_TYPES = 20  # and its first node is one of type-0 ... type-19


def nodes(n: int) -> list[dict]:
    """Five nodes, about 1 KB of JSON."""
    return [
        {"id": f"n{i}", "type": f"type-{n % NODE_TYPES}" if i == 0 else "http_request",
         "name": f"Step {i} of workflow {n}",
         "parameters": {"url": f"https://example.com/api/{n}/{i}", "method": "POST",
                        "body": {"value": "x" * 40}}}
        for i in range(5)
    ]  # fmt: skip


def user(n: int) -> User:
    return User(email=f"bench{n}@example.com", name=f"Bench {n}", password_hash="x" * 20)


def workflow(owner: User, n: int) -> Workflow:
    return Workflow(
        user_id=owner.id,
        name=f"Workflow {n}",
        description=f"benchmark workflow number {n}",
        status=STATUSES[n % len(STATUSES)],
        tags=[f"tag-{n % TAGS}", "bench"],
        nodes=nodes(n),
        edges=[{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(4)],
        settings={"timezone": "UTC"},
    )


def make_records(count: int, per_user: int = 10) -> tuple[list[User], list[Workflow]]:
    users = [user(n) for n in range(max(count // per_user, 1))]
    return users, [workflow(users[n % len(users)], n) for n in range(count)]


def json_size(record) -> int:
    """Bytes of the record as JSON (what an export or an API answer carries)."""
    return len(json.dumps(comparable(record)).encode())


COPY_BATCH = 100_000


def raw_copy(engine: Engine, users: list[User], workflows: list[Workflow]) -> None:
    """The same rows the backfill writes, through `COPY`."""
    copy_rows(engine, [(users, SqlUserRepository), (workflows, SqlWorkflowRepository)])


def copy_rows(engine: Engine, tables: list[tuple[list, type]]) -> None:
    """Records through `COPY`, each list as its SQL repository class maps them, in
    statements of `COPY_BATCH` records (each within the statement timeout)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for records, sql_class in tables:
            table = db.metadata.tables[sql_class.model.__tablename__]
            columns = ", ".join(column.name for column in table.columns)
            for start in range(0, len(records), COPY_BATCH):
                buffer = _csv(table, records[start : start + COPY_BATCH], sql_class(None))
                cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN WITH CSV", buffer)
        connection.commit()
    finally:
        connection.close()


def _csv(table, records, repository) -> io.StringIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for record in records:
        values = repository.to_columns(record)
        writer.writerow(
            json.dumps(values[c.name]) if isinstance(values[c.name], list | dict)
            else values[c.name] for c in table.columns
        )  # fmt: skip
    buffer.seek(0)
    return buffer


@contextmanager
def started_storage(
    url: str, mode: str, read_from: str | None = None, **settings
) -> Iterator[Storage]:
    """Storage on `url` built and started as a serving process builds and starts it
    (`wfplatform.bootstrap`: reads outside units of work on their own autocommit pool),
    with its journal in a folder of its own; closed after."""
    engine = create_engine(url)
    default = RepositoryMode.of(mode, read_from, **settings)
    with tempfile.TemporaryDirectory() as folder:
        storage = bootstrap.build_storage(
            engine, str(Path(folder) / "journal.log"), default, reading_engine=reading_engine(url)
        )
        storage.start()
        try:
            yield storage
        finally:
            storage.close()
            engine.dispose()
