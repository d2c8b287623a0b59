"""Prometheus metrics, served at `GET /metrics` in the text format.

In one process, each app has its own registry. The adapter's stats are not counted
twice: a collector reads `Storage.describe()` (modes, stats, last verify) and the journal at
scrape time. HTTP requests are counted here (see `request_hooks`), backfill runs by
`TracedBackfiller`. Counters of the adapter restart from zero when an admin resets the
stats, which Prometheus' `rate()` and `increase()` treat as any counter reset.

With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set), see `multiprocess`: the
same metrics, added up over every worker, whichever one the scrape reaches."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..errors import Unauthorized
from ..executions.events import Event
from ..storage.adapter import Storage
from ..storage.stats import COUNTERS, LATENCY_BUCKETS_MS
from . import multiprocess
from .names import BACKEND_COUNTERS, COUNTER_HELP, HELP, HTTP_BUCKETS
from .progress import BackfillProgress

log = logging.getLogger(__name__)


class Metrics:
    """Per app; across processes (`multiprocess.enabled()`) the shared recorders instead."""

    def __init__(self, storage: Callable[[], Storage | None]) -> None:
        self.backfill = BackfillProgress()
        if multiprocess.enabled():
            shared = multiprocess.shared()
            self.http_requests, self.http_duration = shared.http_requests, shared.http_duration
            self.backfill_runs = shared.backfill_runs
            self.credential_seals = shared.credential_seals
            self.credential_open_failures = shared.credential_open_failures
            self.executions, self.node_executions = shared.executions, shared.node_executions
            self.execution_data_truncated = shared.execution_data_truncated
            multiprocess.start(storage, self.backfill)
            self._exposition = multiprocess.exposition
            return
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "wf_http_requests",
            HELP["wf_http_requests"],
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "wf_http_request_duration_seconds",
            HELP["wf_http_request_duration_seconds"],
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.backfill_runs = Counter(
            "wf_migration_runs",
            HELP["wf_migration_runs"],
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.credential_seals = Counter(
            "wf_credential_seals", HELP["wf_credential_seals"], ["key_id"], registry=self.registry
        )
        self.credential_open_failures = Counter(
            "wf_credential_open_failures",
            HELP["wf_credential_open_failures"],
            registry=self.registry,
        )
        self.executions = Counter(
            "wf_executions", HELP["wf_executions"], ["status"], registry=self.registry
        )
        self.node_executions = Counter(
            "wf_node_executions",
            HELP["wf_node_executions"],
            ["node_type", "status"],
            registry=self.registry,
        )
        self.execution_data_truncated = Counter(
            "wf_execution_data_truncated",
            HELP["wf_execution_data_truncated"],
            registry=self.registry,
        )
        self.registry.register(StorageCollector(storage))
        self.registry.register(BackfillCollector(self.backfill))
        self._exposition = lambda: generate_latest(self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    # -- what the credentials service reports (`services.credentials.SealCounts`) ----------
    def sealed(self, key_id: str) -> None:
        self.credential_seals.labels(key_id).inc()

    def not_opened(self) -> None:
        self.credential_open_failures.inc()

    # -- the execution engine's events (a subscriber of its bus) --------------------------
    def heard(self, event: Event) -> None:
        if event.final:
            self.executions.labels(event.data["status"]).inc()
            if event.data.get("truncated"):
                self.execution_data_truncated.inc(event.data["truncated"])
        elif "status" in event.data:  # a node attempt's end
            self.node_executions.labels(event.data["node_type"], event.data["status"]).inc()

    def exposition(self) -> bytes:
        return self._exposition()


class StorageCollector:
    """The adapter's stats, read at scrape time."""

    def __init__(self, storage: Callable[[], Storage | None]) -> None:
        self._storage = storage

    def collect(self) -> Iterator[Metric]:
        storage = self._storage()
        if storage is None:
            return
        describe = storage.describe()
        yield from _mode_metrics(storage, describe)
        yield from _backend_metrics(describe)
        for counter in COUNTERS:
            family = CounterMetricFamily(
                f"wf_storage_{counter}", COUNTER_HELP[counter], labels=["repository"]
            )
            for name, info in describe.items():
                family.add_metric([name], info["stats"][counter])
            yield family


def _mode_metrics(storage: Storage, describe: dict) -> Iterator[Metric]:
    mode = GaugeMetricFamily(
        "wf_storage_mode", HELP["wf_storage_mode"], labels=["repository", "mode", "read_from"]
    )
    shadow = GaugeMetricFamily(
        "wf_storage_shadow_rate_ratio", HELP["wf_storage_shadow_rate_ratio"], labels=["repository"]
    )
    verify = GaugeMetricFamily(
        "wf_storage_last_verify_differences",
        HELP["wf_storage_last_verify_differences"],
        labels=["repository"],
    )
    for name, info in describe.items():
        mode.add_metric([name, info["mode"], info["read_from"]], 1)
        shadow.add_metric([name], info["shadow_rate"])
        if info["last_verify"] is not None:
            verify.add_metric([name], info["last_verify"]["differences"])
    yield mode
    yield shadow
    yield verify
    yield GaugeMetricFamily(
        "wf_storage_journal_entries",
        HELP["wf_storage_journal_entries"],
        value=storage.journal_length(),
    )
    yield GaugeMetricFamily(
        "wf_storage_journal_damaged_lines",
        HELP["wf_storage_journal_damaged_lines"],
        value=storage.journal_damage()["lines_kept_aside"],
    )
    yield GaugeMetricFamily(
        "wf_storage_database_up",
        HELP["wf_storage_database_up"],
        value=0 if storage.database_health()["down"] else 1,
    )


def _backend_metrics(describe: dict) -> Iterator[Metric]:
    operations = CounterMetricFamily(
        "wf_storage_operations",
        HELP["wf_storage_operations"],
        labels=["repository", "backend", "kind"],
    )
    faults = {
        name: CounterMetricFamily(f"wf_storage_{name}", text, labels=["repository", "backend"])
        for name, text in BACKEND_COUNTERS.items()
    }
    duration = HistogramMetricFamily(
        "wf_storage_operation_duration_seconds",
        HELP["wf_storage_operation_duration_seconds"],
        labels=["repository", "backend"],
    )
    for name, info in describe.items():
        for backend, stats in info["stats"]["backends"].items():
            operations.add_metric([name, backend, "read"], stats["reads"])
            operations.add_metric([name, backend, "write"], stats["writes"])
            for counter, family in faults.items():
                family.add_metric([name, backend], stats[counter])
            duration.add_metric(
                [name, backend],
                _cumulative(stats["latency_buckets"], stats["latency_count"]),
                stats["latency_sum_ms"] / 1000,
            )
    yield operations
    yield from faults.values()
    yield duration


def _cumulative(buckets: list[int], count: int) -> list[tuple[str, float]]:
    """The stats count each observation in its own bucket; Prometheus wants running
    totals, ending with `+Inf` (everything, slower than the last bound included)."""
    result, running = [], 0
    for bound_ms, observed in zip(LATENCY_BUCKETS_MS, buckets, strict=True):
        running += observed
        result.append((repr(bound_ms / 1000), running))
    result.append(("+Inf", count))
    return result


class BackfillCollector:
    def __init__(self, progress: BackfillProgress) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        kind, running, progress = self._progress.snapshot()
        yield GaugeMetricFamily(
            "wf_migration_running", HELP["wf_migration_running"], value=int(running)
        )
        done = GaugeMetricFamily(
            "wf_migration_records_done",
            HELP["wf_migration_records_done"],
            labels=["kind", "repository"],
        )
        total = GaugeMetricFamily(
            "wf_migration_records", HELP["wf_migration_records"], labels=["kind", "repository"]
        )
        for repository, (walked, size) in progress.items():
            done.add_metric([kind or "", repository], walked)
            total.add_metric([kind or "", repository], size)
        yield done
        yield total


# -- the endpoint -------------------------------------------------------------------------------
blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def scrape() -> Response:
    """Open unless `WF_METRICS_TOKEN` is set, then `Authorization: Bearer <token>`."""
    token = current_app.config.get("WF_METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _same_secret(given.strip(), token):
            raise Unauthorized("the metrics need 'Authorization: Bearer <WF_METRICS_TOKEN>'")
    metrics: Metrics = current_app.extensions["wf_metrics"]
    return Response(metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def _same_secret(given: str, token: str) -> bool:
    """Compare in constant time, as bytes: WSGI hands header bytes over decoded as
    Latin-1, and a client sends a non-ASCII token in UTF-8."""
    try:
        sent = given.encode("latin-1")
    except UnicodeEncodeError:  # cannot have come off the wire
        return False
    return hmac.compare_digest(sent, token.encode("utf-8"))


def init_app(app: Flask, get_storage: Callable[[Flask], Storage]) -> Metrics:
    def storage() -> Storage | None:
        try:
            return get_storage(app)
        except Exception:  # no schema yet, or the database is unreachable at start-up
            log.debug("storage metrics unavailable", exc_info=True)
            return None

    metrics = app.extensions["wf_metrics"] = Metrics(storage)
    app.register_blueprint(blueprint)
    return metrics
