"""Metrics across several worker processes: prometheus_client's multiprocess mode.

It is on when `PROMETHEUS_MULTIPROC_DIR` names a directory (`gunicorn.conf.py` prepares one
when gunicorn runs several workers). Every worker then records into files there and any
worker's scrape adds them all up, so a scrape that reaches one worker still reports the
whole service. Collectors read at scrape time cannot work across processes, so in this
mode the adapter's counters are recorded as they happen (a listener on `StorageStats`) and
its gauges (modes, journal, database up, backfill progress) are refreshed every second by
each process. The metric names and labels are the single-process ones."""

from __future__ import annotations

import glob
import logging
import os
import threading
from collections.abc import Callable
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from ..storage.adapter import Storage
from ..storage.stats import COUNTERS, LATENCY_BUCKETS_MS
from .names import BACKEND_COUNTERS, COUNTER_HELP, HELP, HTTP_BUCKETS
from .progress import BackfillProgress

log = logging.getLogger(__name__)
HTTP_LABELS = ["method", "route", "status"]
DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_SECONDS = 1.0


def enabled() -> bool:
    return bool(os.environ.get(DIRECTORY))


class _SharedFilesCollector(prometheus_multiprocess.MultiProcessCollector):
    """Adds up every worker's files, leaving out those still empty: a worker creates its
    file before it sizes it, and prometheus_client fails the whole scrape on a file read
    in between (an empty file holds no value yet)."""

    def collect(self):
        files = glob.glob(os.path.join(self._path, "*.db"))
        return self.merge([name for name in files if os.path.getsize(name) > 0], accumulate=True)


def exposition() -> bytes:
    registry = CollectorRegistry()
    _SharedFilesCollector(registry)
    return generate_latest(registry)


class SharedMetrics:
    """One set per process: two objects of one metric in a process would overwrite each
    other's values in the shared files."""

    def __init__(self) -> None:
        def counter(name: str, labels: list[str], text: str | None = None) -> Counter:
            return Counter(name, text or HELP[name], labels, registry=None)

        def gauge(name: str, labels: list[str], mode: str) -> Gauge:
            return Gauge(name, HELP[name], labels, registry=None, multiprocess_mode=mode)

        self.http_requests = counter("wf_http_requests", HTTP_LABELS)
        self.http_duration = Histogram(
            "wf_http_request_duration_seconds", HELP["wf_http_request_duration_seconds"],
            HTTP_LABELS, buckets=HTTP_BUCKETS, registry=None,
        )  # fmt: skip
        self.backfill_runs = counter("wf_migration_runs", ["kind", "outcome"])
        self.credential_seals = counter("wf_credential_seals", ["key_id"])
        self.credential_open_failures = counter("wf_credential_open_failures", [])
        self.executions = counter("wf_executions", ["status"])
        self.node_executions = counter("wf_node_executions", ["node_type", "status"])
        self.execution_data_truncated = counter("wf_execution_data_truncated", [])
        self.operations = counter("wf_storage_operations", ["repository", "backend", "kind"])
        self.backend = {
            name: counter(f"wf_storage_{name}", ["repository", "backend"], text)
            for name, text in BACKEND_COUNTERS.items()
        }
        self.counters = {
            name: counter(f"wf_storage_{name}", ["repository"], COUNTER_HELP[name])
            for name in COUNTERS
        }
        self.duration = Histogram(
            "wf_storage_operation_duration_seconds", HELP["wf_storage_operation_duration_seconds"],
            ["repository", "backend"], registry=None,
            buckets=[bound / 1000 for bound in LATENCY_BUCKETS_MS],
        )  # fmt: skip
        self.mode = gauge("wf_storage_mode", ["repository", "mode", "read_from"], "mostrecent")
        self.shadow_rate = gauge("wf_storage_shadow_rate_ratio", ["repository"], "mostrecent")
        self.last_verify = gauge("wf_storage_last_verify_differences", ["repository"], "mostrecent")
        self.journal = gauge("wf_storage_journal_entries", [], "livesum")
        # every process on one journal path sees the same set-aside file
        self.journal_damaged = gauge("wf_storage_journal_damaged_lines", [], "livemax")
        self.database_up = gauge("wf_storage_database_up", [], "livemin")
        self.database_up.set(1)  # as one process reports it until a fault says otherwise
        self.backfill_running = gauge("wf_migration_running", [], "livemax")
        self.records_done = gauge("wf_migration_records_done", ["kind", "repository"], "mostrecent")
        self.records = gauge("wf_migration_records", ["kind", "repository"], "mostrecent")
        self._modes: dict[str, tuple[str, str]] = {}

    # -- the adapter's events (a `StorageStats` listener) -----------------------------------
    def observe(self, repository: str, backend: str, kind: str, elapsed_ms: float) -> None:
        self.operations.labels(repository, backend, kind).inc()
        self.duration.labels(repository, backend).observe(elapsed_ms / 1000)

    def error(self, repository: str, backend: str, *, fell_back: bool) -> None:
        self.backend["errors"].labels(repository, backend).inc()
        if fell_back:
            self.backend["fallbacks"].labels(repository, backend).inc()

    def add(self, repository: str, counter: str, amount: int = 1) -> None:
        self.counters[counter].labels(repository).inc(amount)

    # -- gauges, refreshed by each process --------------------------------------------------
    def refresh(self, storage: Storage, progress: BackfillProgress) -> None:
        for name, info in storage.describe().items():
            current = (info["mode"], info["read_from"])
            previous = self._modes.get(name)
            if previous is not None and previous != current:
                self.mode.labels(name, *previous).set(0)
            self.mode.labels(name, *current).set(1)
            self._modes[name] = current
            self.shadow_rate.labels(name).set(info["shadow_rate"])
            if info["last_verify"] is not None:
                self.last_verify.labels(name).set(info["last_verify"]["differences"])
        self.journal.set(storage.journal_length())
        self.journal_damaged.set(storage.journal_damage()["lines_kept_aside"])
        self.database_up.set(0 if storage.database_health()["down"] else 1)
        kind, running, walked = progress.snapshot()
        self.backfill_running.set(int(running))
        for repository, (done, total) in walked.items():
            self.records_done.labels(kind or "", repository).set(done)
            self.records.labels(kind or "", repository).set(total)


@cache
def shared() -> SharedMetrics:
    return SharedMetrics()


def start(storage: Callable[[], Storage | None], progress: BackfillProgress) -> None:
    """Listen to the adapter's stats and refresh the gauges, from a daemon thread."""
    metrics = shared()

    def refresh_forever() -> None:
        listening = None
        while True:
            try:
                current = storage()
                if current is not None:
                    if current is not listening:
                        current.report_stats_to(metrics)
                        listening = current
                    metrics.refresh(current, progress)
            except Exception:  # metrics must never take the service down
                log.debug("metrics refresh failed", exc_info=True)
            threading.Event().wait(REFRESH_SECONDS)

    threading.Thread(target=refresh_forever, name="wf-metrics", daemon=True).start()
