"""A private, throwaway PostgreSQL 15 cluster for tests that stop and crash the database.

Fault tests must never touch the machine's shared server (port 5432): each cluster here is
`initdb`-ed into its own temporary directory, listens on a free port on 127.0.0.1 only, keeps
its socket in that directory, trusts every local connection and is removed afterwards.

    with private_cluster() as cluster:      # skips without PostgreSQL; initdb + start
        engine = sa.create_engine(cluster.url)
        cluster.stop()                       # an immediate stop: the server crashes
        cluster.start()                      # crash recovery, same port, same data

PostgreSQL refuses to run as root, so when the tests run as root every server command runs
as the `postgres` OS user (`runuser -u postgres --`), which owns the temporary directory.
Without PostgreSQL's server binaries the tests skip with the reason, except in CI
(`CI=true`), where they fail."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.databases import IN_CI

SHARED_PORT = 5432
OS_USER = "postgres"
START_TIMEOUT = 30


def server_bin_dir() -> Path | None:
    """Where `initdb` and `pg_ctl` live: `WF_TEST_PG_BIN`, PostgreSQL 15's, or on PATH."""
    candidates = [os.environ.get("WF_TEST_PG_BIN"), "/usr/lib/postgresql/15/bin"]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def cluster_unavailable_reason() -> str | None:
    """Why no private cluster can be started here, or None."""
    if server_bin_dir() is None:
        return "initdb not found (install postgresql-15, or set WF_TEST_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root, and there is no {OS_USER!r} OS user to run PostgreSQL"
        if shutil.which("runuser") is None:
            return "running as root, and runuser is missing"
    return None


def require_cluster() -> None:
    reason = cluster_unavailable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true requires a private PostgreSQL cluster: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ClusterError(RuntimeError):
    pass


class PostgresCluster:
    """One private cluster. `start()` initialises it on first use; `close()` removes it."""

    def __init__(self) -> None:
        self.bin_dir = server_bin_dir()
        if self.bin_dir is None:
            raise ClusterError("initdb not found")
        # Short (the server's socket lives here) and reachable by the postgres OS user.
        base = os.environ.get("WF_TEST_PG_TMPDIR") or ("/tmp" if os.path.isdir("/tmp") else None)
        self.root = Path(tempfile.mkdtemp(prefix="wf-pg-", dir=base))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = free_port()
        self.running = False
        self._initialised = False
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OS_USER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    # -- what tests use -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self.running:
            return
        if not self._initialised:
            self._initdb()
        if self.port == SHARED_PORT:  # paranoia: never start or stop on the shared port
            raise ClusterError("refusing to use the shared server's port")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run(
            "pg_ctl",
            *("-D", str(self.data_dir), "-l", str(self.log_file)),
            *("-o", options, "-w", "-t", str(START_TIMEOUT), "start"),
        )
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; `immediate` kills it without a checkpoint, like a crash."""
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
        self.running = False

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        """Stop the server if it runs and remove everything it wrote. Never raises."""
        try:
            self.stop()
        except ClusterError:
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- databases on this cluster --------------------------------------------------------------
    @contextmanager
    def temporary_database(self) -> Iterator[str]:
        """A fresh database, dropped afterwards (the cluster is started again if needed)."""
        name = f"wf_fault_{uuid.uuid4().hex[:12]}"
        self.start()
        self._admin(f'CREATE DATABASE "{name}"')
        try:
            yield self.database_url(name)
        finally:
            self.start()
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(statement))
        finally:
            admin.dispose()

    # -- plumbing -------------------------------------------------------------------------------
    def _initdb(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data_dir), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            # Throwaway data: an immediate stop still keeps every commit (the WAL is in the
            # page cache); only a machine crash would need fsync.
            conf.write("\nfsync = off\nfull_page_writes = off\nmax_connections = 50\n")
        self._initialised = True

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise ClusterError(
                f"{program} {' '.join(args[-1:])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log[-2000:]}"
            )


@contextmanager
def private_cluster() -> Iterator[PostgresCluster]:
    """A started cluster; skips (fails in CI) without PostgreSQL; always stops and removes it.

    Tests take the session's one as the `cluster` fixture (tests/conftest.py), and stop and
    start it between tests."""
    require_cluster()
    with PostgresCluster() as cluster:
        yield cluster
