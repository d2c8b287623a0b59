"""One OpenTelemetry span per adapter operation, named `repository.operation`.

Attributes say how the operation was served; arguments and results are never recorded, so
no secret can reach a span through the adapter. With no tracer provider installed (tracing
off), an operation costs no span work at all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import INVALID_SPAN, ProxyTracerProvider, Span, Status, StatusCode

from ..errors import DomainError, StorageUnavailable
from .modes import RepositoryMode

tracer = trace.get_tracer("wfplatform.storage")
_NO_SPAN = nullcontext(INVALID_SPAN)  # reusable: what every operation enters with tracing off


def is_tracing() -> bool:
    """Whether a tracer provider is installed: until one is, every span is a no-op."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def operation_span(
    name: str,
    mode: RepositoryMode | None = None,
    backends: Sequence[str] = (),
    *,
    fallback: bool = False,
) -> AbstractContextManager[Span]:
    """`backends` and `fallback`: how the operation is expected to be served; `served_by`
    corrects them when it was served otherwise."""
    if not is_tracing():
        return _NO_SPAN
    attributes: dict[str, Any] = {
        "wf.storage.backends": list(backends),
        "wf.storage.fallback": fallback,
    }
    if mode is not None:
        attributes["wf.storage.mode"] = mode.mode.value
        attributes["wf.storage.read_from"] = mode.read_from
    return _recorded_span(name, attributes)


@contextmanager
def _recorded_span(name: str, attributes: dict[str, Any]) -> Iterator[Span]:
    # What `start_as_current_span` does, without its three nested context managers, and
    # with every attribute given at once: a span per read is a cost every read pays.
    span = tracer.start_span(name, attributes=attributes)
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except StorageUnavailable as fault:
        # Not `record_exception`: its stack trace would carry the driver's chained error.
        span.add_event(
            "exception",
            {"exception.type": type(fault).__name__, "exception.message": str(fault)},
        )
        span.set_status(Status(StatusCode.ERROR, fault.code))
        raise
    except DomainError as error:
        span.set_attribute("wf.error.code", error.code)
        raise
    finally:
        context.detach(token)
        span.end()


def cache_hit_event(name: str) -> None:
    """A read the record cache answered is an event on the current span (the request's),
    not a span of its own: it touched no backend, and a span costs a cached read (about
    2 µs) twenty times over to record and export."""
    if is_tracing():
        trace.get_current_span().add_event(name, {"wf.storage.cached": True})


def served_by(span: Span, backends: Sequence[str], *, fallback: bool = False) -> None:
    span.set_attribute("wf.storage.backends", list(backends))
    span.set_attribute("wf.storage.fallback", fallback)
