"""Migration runs, journal replays and verify runs as spans with counts; their metrics;
the tracing set-up from `OTEL_*`; the JSON log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_user
from wfplatform.backfill.backfiller import Options
from wfplatform.config import ConfigurationError
from wfplatform.observability import logs, server_spans, tracing
from wfplatform.observability.backfill import TracedBackfiller
from wfplatform.observability.metrics import Metrics


def named(spans, name):
    return [span for span in spans.get_finished_spans() if span.name == name]


def gauges(metrics: Metrics) -> dict:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


@pytest.fixture
def storage(backfill_ready):
    return backfill_ready


def test_a_migration_run_is_a_span_with_its_counts_and_its_progress_a_metric(storage, spans):
    metrics = Metrics(lambda: storage)
    backfiller = TracedBackfiller(storage, metrics)
    backfiller.dry_run(Options())
    report = backfiller.confirm(Options(batch_size=1), actor="ops")

    dry_run = named(spans, "migration.dry_run")[0]
    assert dry_run.attributes["wf.migration.insert"] == 3
    assert dry_run.attributes["wf.migration.written"] == 0
    confirm = named(spans, "migration.confirm")[0]
    assert confirm.attributes["wf.migration.written"] == 3
    assert confirm.attributes["wf.migration.run_id"] == report["run"]["id"]
    assert confirm.attributes["wf.migration.state"] == "completed"

    values = gauges(metrics)
    assert values[("wf_migration_running", ())] == 0
    assert (
        values[("wf_migration_records_done", (("kind", "confirm"), ("repository", "users")))] == 1
    )
    assert values[("wf_migration_runs_total", (("kind", "confirm"), ("outcome", "ok")))] == 1

    backfiller.rollback(report["run"]["id"])
    rollback = named(spans, "migration.rollback")[0]
    assert rollback.attributes["wf.migration.undone"] == 3


def test_a_refused_migration_is_an_error_span_and_counted(make_storage, spans):
    storage = make_storage("memory-only")  # a backfill needs dual
    metrics = Metrics(lambda: storage)
    with pytest.raises(Exception):  # noqa: B017 (the guard's own error type is not the point)
        TracedBackfiller(storage, metrics).confirm(Options(), actor="ops")
    assert named(spans, "migration.confirm")[0].status.status_code.name == "ERROR"
    assert gauges(metrics)[key("wf_migration_runs_total", kind="confirm", outcome="error")] == 1


def test_a_journal_replay_and_a_verify_are_spans_with_counts(make_storage, spans, caplog):
    caplog.set_level(logging.INFO)
    storage = make_storage("dual", read_from="memory")
    storage.parts.health.mark_down("connection refused")  # dual writes go to the journal
    storage.users.add(make_user())
    storage.users.add(make_user())
    assert gauges(Metrics(lambda: storage))[key("wf_storage_journal_entries")] == 2
    storage.parts.health.mark_up()

    assert storage.replay_journal()["replayed"] == 2
    replay = named(spans, "journal.replay")[0]
    assert replay.attributes["wf.journal.replayed"] == 2
    assert replay.attributes["wf.journal.pending"] == 0
    assert any(r.levelname == "INFO" and "replayed 2" in r.getMessage() for r in caplog.records)

    storage.in_memory("users").upsert(make_user())  # only in memory
    storage.verify()
    verify = named(spans, "storage.verify")[0]
    assert verify.attributes["wf.verify.differences"] == 1
    assert verify.attributes["wf.verify.only_in_memory"] == 1
    assert any(
        r.levelname == "WARNING" and "1 differences" in r.getMessage() for r in caplog.records
    )


def test_adapter_latency_becomes_a_cumulative_histogram_in_seconds(make_storage):
    storage = make_storage("memory-only")
    storage.users.add(make_user())
    storage.parts.stats.observe("users", "memory", "read", 3000.0)  # slower than the last bound
    values = gauges(Metrics(lambda: storage))
    name = "wf_storage_operation_duration_seconds"
    labels = {"backend": "memory", "repository": "users"}
    assert values[key(f"{name}_count", **labels)] == 2
    assert values[key(f"{name}_bucket", le="+Inf", **labels)] == 2
    assert values[key(f"{name}_bucket", le="2.5", **labels)] == 1
    assert values[key(f"{name}_sum", **labels)] >= 3.0


# -- tracing set-up -----------------------------------------------------------------------------
def test_an_installed_tracer_provider_is_kept():
    before = trace.get_tracer_provider()
    assert tracing.configure_provider() is None
    assert trace.get_tracer_provider() is before


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
    ],
)
def test_the_exporter_follows_otel_traces_exporter(monkeypatch, environment, expected):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert tracing.exporter_names() == expected


def test_the_otlp_exporter_is_built_without_reaching_the_network(monkeypatch):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    exporter = tracing._exporter("otlp")
    exporter.shutdown()
    with pytest.raises(ConfigurationError):
        tracing._exporter("zipkin")


@pytest.mark.parametrize(
    ("configured", "untraced", "traced"),
    [
        (None, ["/metrics", "/health", "/health/ready"], ["/api/workflows"]),
        ("/api/audit.*,^/docs", ["/api/audit-logs", "/docs/assets/x"], ["/health", "/api/docs"]),
        ("", [], ["/health"]),
    ],
)
def test_excluded_paths_follow_the_setting(monkeypatch, configured, untraced, traced):
    monkeypatch.delenv(server_spans.EXCLUDED_URLS, raising=False)
    if configured is not None:
        monkeypatch.setenv(server_spans.EXCLUDED_URLS, configured)
    excluded = server_spans.excluded_paths()
    assert all(excluded.search(path) for path in untraced)
    assert not any(excluded and excluded.search(path) for path in traced)


def test_excluded_paths_that_are_not_regular_expressions_stop_start_up(monkeypatch):
    monkeypatch.setenv(server_spans.EXCLUDED_URLS, "/health,/metrics(")
    with pytest.raises(ConfigurationError, match=server_spans.EXCLUDED_URLS):
        server_spans.excluded_paths()


# -- logs ---------------------------------------------------------------------------------------
def test_a_log_line_is_one_json_object_with_the_current_trace_and_span():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("wfplatform.test_observability")
    logger.addHandler(handler)
    try:
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logger.warning(
                "a fallback %s", "happened", extra={"repository": "users", "api_key": "k"}
            )
        logger.error("outside", exc_info=ValueError("boom"))
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert first["level"] == "WARNING" and first["logger"] == "wfplatform.test_observability"
    assert first["message"] == "a fallback happened"
    assert first["trace_id"] == format(context.trace_id, "032x")
    assert first["span_id"] == format(context.span_id, "016x")
    assert first["request_id"] is None
    assert first["repository"] == "users" and first["api_key"] == "[redacted]"
    assert second["trace_id"] is None and "ValueError: boom" in second["exception"]


def test_text_logs_leave_the_root_logger_alone():
    root = logging.getLogger()
    before = list(root.handlers)
    assert logs.install("text") is None
    assert root.handlers == before


@pytest.mark.parametrize(("log_format", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_a_wrong_log_setting_is_a_configuration_error(log_format, level):
    with pytest.raises(ConfigurationError):
        logs.install(log_format, level)
