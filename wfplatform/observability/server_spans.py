"""The HTTP server span of each request, made in the app's own request hooks.

Not `opentelemetry-instrumentation-flask`: on a single GET it cost two thirds of all the
tracing (about 0.6 ms of a 1.6 ms request, measured in-process; docs/PERFORMANCE.md):
WSGI middleware that rebuilds the URL three times, collects every request attribute
twice and records HTTP metrics the service already has in Prometheus. This span carries
what a trace backend needs and no more: the stable HTTP semantic conventions' method,
route, path, scheme, status, client address and user agent, never the query string (it
may carry what a client should not have sent there). The caller's trace and baggage
(any propagator of `OTEL_PROPAGATORS`) are continued, and the span is the current one
while the request runs, so the adapter's spans and the log lines nest under it; a
streamed answer keeps it current while each chunk is made and ends it when the body is
closed (sent, or the client gone).

`OTEL_PYTHON_FLASK_EXCLUDED_URLS` (the instrumentation's setting, kept): comma-separated
regular expressions searched in the path; matching requests get no span."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from flask import Flask, Response, request
from opentelemetry import context, propagate, trace
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    http_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ..config import ConfigurationError
from .request_hooks import METHODS

EXCLUDED_URLS = "OTEL_PYTHON_FLASK_EXCLUDED_URLS"
# Scrapes and probes would make a trace every few seconds; a record's path that merely
# holds such a word is traced.
DEFAULT_EXCLUDED_URLS = "^/metrics$,^/health(?:/|$)"
ENVIRON_KEY = "wfplatform.server_span"  # (span, context token) of the request
STREAMING_KEY = "wfplatform.server_span.streaming"  # its span ends when the body is closed
tracer = trace.get_tracer("wfplatform.http")


def excluded_paths() -> re.Pattern[str] | None:
    configured = os.environ.get(EXCLUDED_URLS, DEFAULT_EXCLUDED_URLS)
    patterns = [pattern.strip() for pattern in configured.split(",") if pattern.strip()]
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))
    except re.error as error:
        raise ConfigurationError(f"{EXCLUDED_URLS}: not regular expressions ({error})") from None


def _described() -> tuple[str, dict[str, str]]:
    """The request's span name and attributes."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    # Any token is a method: an unknown one is `_OTHER` (an attacker's strings would each
    # name a span of their own), as the conventions and the HTTP metrics have it.
    method = request.method if request.method in METHODS else "_OTHER"
    name = "HTTP" if method == "_OTHER" else method
    attributes = {
        http_attributes.HTTP_REQUEST_METHOD: method,
        url_attributes.URL_PATH: request.path,
        url_attributes.URL_SCHEME: request.scheme,
    }
    if rule:
        attributes[http_attributes.HTTP_ROUTE] = rule
    if request.remote_addr:
        attributes[client_attributes.CLIENT_ADDRESS] = request.remote_addr
    if user_agent := request.headers.get("User-Agent"):
        attributes[user_agent_attributes.USER_AGENT_ORIGINAL] = user_agent
    return (f"{name} {rule}" if rule else name), attributes


class _StreamedWithin:
    """A streamed body, each chunk made with the request's span current (the reads a
    streamed answer makes belong to its trace), never between chunks: the server's work
    then is not the request's. Closing it closes the body, begun or not (a HEAD request's
    body is closed unread), so the body's own clean-up always runs."""

    def __init__(self, span: Span, body: Iterable[bytes]) -> None:
        self._span = span
        self._within = trace.set_span_in_context(span)
        self._body = body
        self._chunks = iter(body)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        token = context.attach(self._within)
        try:
            return next(self._chunks)
        except StopIteration:
            raise
        except Exception as error:
            _failed(self._span, type(error).__qualname__)
            raise
        finally:
            context.detach(token)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _failed(span: Span, error_type: str) -> None:
    """An error status, and `error.type`: a status or an exception's type, never its
    message (which can carry what the request held)."""
    span.set_attribute(error_attributes.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR))


def init_app(app: Flask) -> None:
    excluded = excluded_paths()

    def start() -> None:
        if excluded is None or not excluded.search(request.path):
            _start()

    # Registered right after the request id's hooks, before any other: authentication and
    # the rate limiter run inside the span.
    app.before_request(start)
    app.after_request(_answered)
    app.teardown_request(_end)


def _start() -> None:
    name, attributes = _described()
    extracted = propagate.extract(request.headers)  # the caller's trace and baggage
    span = tracer.start_span(name, context=extracted, kind=SpanKind.SERVER, attributes=attributes)
    token = context.attach(trace.set_span_in_context(span, extracted))
    # Per request, not on `g`: a request made while another runs shares its app context.
    request.environ[ENVIRON_KEY] = span, token


def _answered(response: Response) -> Response:
    started = request.environ.get(ENVIRON_KEY)
    if started is None:
        return response
    span, _ = started
    span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, response.status_code)
    if response.status_code >= 500:
        _failed(span, str(response.status_code))
    # A body made after the view returns is traced too. Not a file: it goes to the server
    # as it is (which may sendfile it), and Werkzeug calls no close callback for it.
    if response.is_streamed and not response.direct_passthrough:
        response.response = _StreamedWithin(span, response.response)
        response.call_on_close(span.end)
        request.environ[STREAMING_KEY] = True
    return response


def _end(error: BaseException | None) -> None:
    started = request.environ.pop(ENVIRON_KEY, None)
    if started is None:
        return
    span, token = started
    if error is not None:
        _failed(span, type(error).__qualname__)
    if not request.environ.get(STREAMING_KEY):  # else it ends when the body is closed
        span.end()
    context.detach(token)
