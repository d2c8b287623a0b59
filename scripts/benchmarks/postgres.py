"""Throwaway PostgreSQL databases: one migrated as users migrate (`flask db upgrade`), and
copies of it (`CREATE DATABASE ... TEMPLATE`, a few milliseconds each) for every service
and storage a benchmark builds; all dropped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from wfplatform.backends.sql import configure_engine, engine_options

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "WF_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


class Databases:
    """`with Databases() as databases: url = databases.fresh()`: a migrated, empty database."""

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self._url = make_url(admin_url)
        self._prefix = f"wf_bench_{uuid.uuid4().hex[:8]}"
        self._made: list[str] = []
        self._template: str | None = None

    def __enter__(self) -> Databases:
        try:
            with self._admin.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            raise SystemExit(
                f"the benchmarks need PostgreSQL at {self._url.render_as_string()} "
                f"(WF_BENCH_POSTGRES_URL): {exc.orig}"
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        with self._admin.connect() as connection:
            for name in reversed(self._made):
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()

    def url(self, name: str) -> str:
        return self._url.set(database=name).render_as_string(hide_password=False)

    def _create(self, template: str | None = None) -> str:
        name = f"{self._prefix}_{len(self._made)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with self._admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
        self._made.append(name)
        return name

    def fresh(self) -> str:
        """The URL of a new database at the latest migration, holding no records."""
        if self._template is None:
            self._template = self._create()
            _migrate(self.url(self._template))
        return self.url(self._create(self._template))


def _migrate(url: str) -> None:
    """`flask db upgrade`, as `scripts/serve.sh` runs it."""
    env = {**os.environ, "DATABASE_URL": url, "WF_LOG_LEVEL": "WARNING", "WF_SECRET_KEY": "-"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wfplatform", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def create_engine(url: str) -> Engine:
    """An engine as the app makes one for `url` (its options, its SQLite set-up)."""
    engine = sa.create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine
