"""Backfill runs traced and counted, without the backfiller knowing: a span per dry-run,
confirmed run and rollback (`migration.dry_run`, ...) with the counts as attributes, and
the progress and outcome of each run as metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from ..backfill.backfiller import Backfiller, Options, Progress
from ..storage.adapter import Storage
from .metrics import Metrics

tracer = trace.get_tracer("wfplatform.backfill")


class TracedBackfiller(Backfiller):
    def __init__(self, storage: Storage, metrics: Metrics | None, source: str = "memory") -> None:
        super().__init__(storage, source)
        self._metrics = metrics

    def dry_run(self, options: Options, progress: Progress | None = None) -> dict:
        with self._run("dry_run", options) as (span, advance):
            result = super().dry_run(options, _both(advance, progress))
            _describe(span, result)
            return result

    def confirm(
        self,
        options: Options,
        actor: str,
        progress: Progress | None = None,
        resume: str | None = None,
        run_id: str | None = None,
    ) -> dict:
        with self._run("confirm", options) as (span, advance):
            if run_id or resume:
                span.set_attribute("wf.migration.run_id", run_id or resume)
            result = super().confirm(options, actor, _both(advance, progress), resume, run_id)
            _describe(span, result)
            return result

    def rollback(self, run_id: str, *, dry_run: bool = False, force: bool = False) -> dict:
        with self._run("rollback", None) as (span, _advance):
            span.set_attribute("wf.migration.run_id", run_id)
            span.set_attribute("wf.migration.dry_run", dry_run)
            result = super().rollback(run_id, dry_run=dry_run, force=force)
            span.set_attribute("wf.migration.undone", sum(result["undone"].values()))
            span.set_attribute("wf.migration.conflicts", result["conflict_count"])
            return result

    @contextmanager
    def _run(self, kind: str, options: Options | None) -> Iterator[tuple[Span, Progress]]:
        metrics = self._metrics
        outcome = "error"
        with tracer.start_as_current_span(f"migration.{kind}") as span:
            span.set_attribute("wf.migration.source", self.source)
            if options is not None:
                span.set_attribute("wf.migration.repositories", list(options.repositories))
                span.set_attribute("wf.migration.batch_size", options.batch_size)
                span.set_attribute("wf.migration.on_conflict", options.on_conflict)
            if metrics is not None and kind != "rollback":
                metrics.backfill.begin(kind)
            try:
                yield span, (metrics.backfill.advance if metrics else _ignore)
                outcome = "ok"
            except Exception as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise
            finally:
                if metrics is not None:
                    metrics.backfill.end()
                    metrics.backfill_runs.labels(kind, outcome).inc()


def _describe(span: Span, result: dict) -> None:
    """Counts only: samples name record ids and reasons, not needed on a span."""
    totals: dict[str, int] = {}
    for counts in result["repositories"].values():
        for action, count in counts.items():
            totals[action] = totals.get(action, 0) + count
    for action, count in totals.items():
        span.set_attribute(f"wf.migration.{action}", count)
    span.set_attribute("wf.migration.written", sum(result["written"].values()))
    span.set_attribute("wf.migration.needs_attention", result["needs_attention"])
    if result.get("run"):
        span.set_attribute("wf.migration.run_id", result["run"]["id"])
        span.set_attribute("wf.migration.state", result["run"]["state"])


def _both(first: Progress, second: Progress | None) -> Progress:
    def advance(repository: str, done: int, total: int) -> None:
        first(repository, done, total)
        if second is not None:
            second(repository, done, total)

    return advance


def _ignore(repository: str, done: int, total: int) -> None:
    pass
