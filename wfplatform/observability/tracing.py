"""OpenTelemetry traces, configured only through the standard `OTEL_*` variables.

- A TracerProvider someone already installed (a test, `opentelemetry-instrument`) is kept.
- Otherwise one is set up unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER` is
  `none`. The exporter defaults to `otlp` when an OTLP endpoint is set
  (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), else to `none`,
  so a service without a collector never retries exports in the background. `otlp` needs
  the optional extra `wfplatform[otlp]` (OTLP over HTTP/protobuf); `console` prints spans.
- The SDK reads the rest itself: `OTEL_SERVICE_NAME` (default `wfplatform`),
  `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, the
  exporter's `OTEL_EXPORTER_OTLP_*` and the batch processor's `OTEL_BSP_*`.

While tracing is on, requests get a server span (`server_spans`) and each statement
on the app's engine a client span (SQLAlchemy instrumentation), below the adapter's
`repository.operation` spans; while it is off, nothing is instrumented. Statements are
recorded with their placeholders, never their parameters."""

from __future__ import annotations

import logging
import os
import weakref

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_version
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from sqlalchemy.engine import Engine

from ..config import ConfigurationError

log = logging.getLogger(__name__)
DEFAULT_SERVICE_NAME = "wfplatform"
_instrumented_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def exporter_names() -> list[str]:
    configured = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not configured:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        configured = "otlp" if endpoint else "none"
    names = [name.strip() for name in configured.split(",") if name.strip()]
    return [] if "none" in names else names


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name in ("otlp", "otlp_proto_http"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ConfigurationError(
                "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install 'wfplatform[otlp]'"
            ) from exc
        return OTLPSpanExporter()
    raise ConfigurationError(
        f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console, none)"
    )


def configure_provider() -> TracerProvider | None:
    """Install a TracerProvider from the environment unless one is installed already or
    tracing is off; returns the one installed here."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None  # someone configured tracing before us: theirs wins
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = exporter_names()
    if not names:
        return None
    attributes = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": DEFAULT_SERVICE_NAME}
    )
    provider = TracerProvider(resource=Resource.create(attributes))  # sampler from OTEL_*
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    log.info("tracing exports to %s", ", ".join(names))
    return provider


def instrument_engine(engine: Engine) -> None:
    """Trace the statements of this engine, once. `SQLAlchemyInstrumentor().instrument()`
    is a process-wide singleton that also patches `create_engine`; what it attaches to
    one engine is this `EngineTracer`, so each app's engine gets its own."""
    if engine in _instrumented_engines:
        return
    _instrumented_engines.add(engine)
    name = "opentelemetry.instrumentation.sqlalchemy"
    tracer = trace.get_tracer(name, sqlalchemy_version)
    usage = get_meter(name, sqlalchemy_version).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(tracer, engine, usage)
