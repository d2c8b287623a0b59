"""One OpenTelemetry span per adapter operation, named `repository.operation`.

Attributes say how the operation was served; arguments and results are never recorded, so
no secret can reach a span through the adapter. With no tracer provider installed (tracing
off), an operation costs no span work at all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, ProxyTracerProvider, Span, Status, StatusCode

from ..errors import DomainError, StorageUnavailable
from .modes import RepositoryMode

tracer = trace.get_tracer("wfplatform.storage")
_NO_SPAN = nullcontext(INVALID_SPAN)  # reusable: what every operation enters with tracing off


def is_tracing() -> bool:
    """Whether a tracer provider is installed: until one is, every span is a no-op."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def operation_span(
    name: str, mode: RepositoryMode | None = None, backends: Sequence[str] = ()
) -> AbstractContextManager[Span]:
    if not is_tracing():
        return _NO_SPAN
    return _recorded_span(name, mode, backends)


@contextmanager
def _recorded_span(
    name: str, mode: RepositoryMode | None, backends: Sequence[str]
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False
    ) as span:
        if mode is not None:
            span.set_attribute("wf.storage.mode", mode.mode.value)
            span.set_attribute("wf.storage.read_from", mode.read_from)
        span.set_attribute("wf.storage.backends", list(backends))
        span.set_attribute("wf.storage.fallback", False)
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


def served_by(span: Span, backends: Sequence[str], *, fallback: bool = False) -> None:
    span.set_attribute("wf.storage.backends", list(backends))
    span.set_attribute("wf.storage.fallback", fallback)
