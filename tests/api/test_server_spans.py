"""The HTTP server span (`observability.server_spans`) as callers, attackers and failing
hooks meet it: one span per request whatever answers it, nothing current left behind on
the thread, no secret and no attacker-chosen name in it."""

from __future__ import annotations

import contextvars

import pytest
from flask import Flask, Response, jsonify
from opentelemetry import baggage, trace
from opentelemetry.trace import StatusCode

from tests.api.conftest import make_admin
from wfplatform.bootstrap import get_storage

MEMORY = pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def server_spans(exporter) -> list:
    return [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]


def no_current_span() -> bool:
    return not trace.get_current_span().get_span_context().is_valid


@MEMORY
def test_a_request_made_inside_another_keeps_its_own_span(app: Flask, spans):
    """A request made while another runs shares its app context (`g`): each keeps its
    own span, both end, and nothing stays current after. Run in a copied context so that
    a leak could not spill into the tests that follow."""

    def outer():
        inner = app.test_client().get("/api/workflows")  # any traced route
        return jsonify(inner=inner.status_code)

    app.add_url_rule("/probe/outer", view_func=outer)
    spans.clear()

    def request_then_current_span():
        assert app.test_client().get("/probe/outer").status_code == 200
        return trace.get_current_span()

    left_current = contextvars.copy_context().run(request_then_current_span)
    names = sorted(span.name for span in server_spans(spans))
    leaked = left_current.get_span_context().is_valid  # the outer context stayed attached
    assert (names, leaked) == (["GET /api/workflows", "GET /probe/outer"], False)


@MEMORY
def test_an_unknown_method_names_no_span(app, client, spans):
    """Any token is a valid HTTP method: an unknown one is `_OTHER` in a span named
    `HTTP ...`, as the conventions say, never the attacker's text (a span name each)."""
    method = "X" * 40 + "EVIL"
    spans.clear()
    assert client.open("/api/workflows", method=method).status_code == 405
    (server,) = server_spans(spans)
    assert method not in server.name, server.name
    assert server.attributes["http.request.method"] == "_OTHER"


@MEMORY
def test_the_callers_baggage_is_current_while_the_request_runs(app, spans):
    """The whole extracted context is current, not only the parent span: the caller's
    baggage (`OTEL_PROPAGATORS` extracts tracecontext and baggage) reaches the request."""

    def seen():
        return jsonify(tenant=baggage.get_baggage("tenant"))

    app.add_url_rule("/probe/baggage", view_func=seen)
    response = app.test_client().get(
        "/probe/baggage", headers={"traceparent": TRACEPARENT, "baggage": "tenant=acme"}
    )
    assert response.get_json() == {"tenant": "acme"}


@MEMORY
def test_a_record_named_health_is_not_a_probe(app, client, auth, spans):
    """The default exclusions are the probes' and the scrape's own paths: a path that
    merely holds `health` or `metrics` (a record's id) is traced."""
    spans.clear()
    for path in ("/api/users/me/api-keys/health", "/admin/imports/metrics"):
        client.open(path, method="DELETE" if "api-keys" in path else "GET", headers=auth)
    assert len(server_spans(spans)) == 2, [span.name for span in server_spans(spans)]


@MEMORY
def test_hook_refusals_are_spans_with_their_status_and_detach(app, client, spans):
    """a before_request hook that answers early (401 unauthenticated, 429 rate
    limit, 404 invalid path text, 405) still ends the span with the status; no leak."""
    app.config["WF_RATELIMIT_API"] = "1 per minute"
    spans.clear()
    statuses = [
        client.get("/api/users/me").status_code,  # 401 (counts the one allowed hit)
        client.get("/api/users/me").status_code,  # 429
        client.get("/api/workflows/%00").status_code,  # 404: invalid text in the path
        client.put("/health").status_code,  # excluded: no span
    ]
    assert statuses[:3] == [401, 429, 404], statuses
    recorded = [span.attributes["http.response.status_code"] for span in server_spans(spans)]
    assert recorded == statuses[:3]
    assert no_current_span()


@MEMORY
def test_an_exception_in_a_hook_ends_the_span_and_detaches(app, spans):
    """a hook registered after the span's raising still ends it as an error
    (type only) and leaves no current span behind on the thread."""

    @app.before_request
    def explode():
        raise ValueError("secret-in-message")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    spans.clear()
    assert app.test_client().get("/api/workflows").status_code == 500
    (server,) = server_spans(spans)
    assert server.attributes["error.type"] == "ValueError"
    assert server.attributes["http.response.status_code"] == 500
    assert server.status.status_code is StatusCode.ERROR
    assert "secret-in-message" not in server.to_json()
    assert no_current_span()


@MEMORY
@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # invalid trace id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "\xe9" * 4096,  # latin-1 text, huge
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(app, client, traceparent, spans):
    """a hostile `traceparent` is ignored (new root), never a 500."""
    spans.clear()
    response = client.get("/nope", headers={"traceparent": traceparent, "tracestate": "a=" * 5000})
    assert response.status_code == 404
    (server,) = server_spans(spans)
    assert server.parent is None
    assert no_current_span()


@MEMORY
def test_an_unsampled_caller_makes_no_span_and_no_leak(app, client, spans):
    """flags 00 (the caller did not sample): a non-recording span, detached."""
    spans.clear()
    unsampled = TRACEPARENT[:-2] + "00"
    assert client.get("/nope", headers={"traceparent": unsampled}).status_code == 404
    assert server_spans(spans) == []
    assert no_current_span()


@MEMORY
def test_credentials_and_query_never_reach_the_span(app, client, auth, spans):
    """neither the Authorization header, a cookie, nor the query string."""
    spans.clear()
    client.get(
        "/api/workflows?token=query-secret",
        headers={**auth, "Cookie": "session=cookie-secret", "X-Api-Key": "key-secret"},
    )
    (server,) = server_spans(spans)
    text = server.to_json()
    bearer = auth["Authorization"].split()[-1]
    for secret in ("query-secret", "cookie-secret", "key-secret", bearer):
        assert secret not in text


@pytest.mark.parametrize("app", [("dual", "database")], indirect=True)
def test_a_streamed_answer_is_traced_to_its_last_chunk(app, client, spans):
    """The export streams after its view returns: the reads it makes meanwhile belong to
    its request's trace, and its span ends when the body is done, not before."""
    admin = make_admin(app, client)
    spans.clear()
    response = client.get("/admin/export", headers=admin)
    assert response.status_code == 200 and response.get_data()
    response.close()
    finished = spans.get_finished_spans()
    (server,) = server_spans(spans)
    assert server.name == "GET /admin/export"
    assert len(finished) > 3  # the adapter's reads and their statements
    assert {span.context.trace_id for span in finished} == {server.context.trace_id}
    assert all(span.end_time <= server.end_time for span in finished)
    assert no_current_span()
    spans.clear()
    head = client.head("/admin/export", headers=admin)  # its body is closed unread
    assert head.status_code == 200 and head.get_data() == b""
    head.close()
    assert [span.name for span in server_spans(spans)] == ["HEAD /admin/export"]
    assert no_current_span()


@MEMORY
def test_a_stream_the_client_leaves_early_ends_its_span_and_its_body(app, spans):
    closed = []

    def chunks():
        try:
            for n in range(3):
                yield f"chunk {n}\n".encode()
        finally:
            closed.append(True)

    app.add_url_rule("/probe/stream", view_func=lambda: Response(chunks()))
    spans.clear()
    response = app.test_client().get("/probe/stream", buffered=False)
    assert next(iter(response.response)) == b"chunk 0\n"
    assert server_spans(spans) == []  # still streaming
    response.close()  # the client went away
    assert closed == [True]
    (server,) = server_spans(spans)
    assert server.attributes["http.response.status_code"] == 200
    assert no_current_span()


@MEMORY
def test_a_file_is_sent_as_it_is_and_its_span_ends(app, spans):
    sent = []
    app.after_request(lambda response: sent.append(response.response) or response)
    spans.clear()
    response = app.test_client().get("/docs/docs.js")
    assert response.status_code == 200 and response.get_data()
    response.close()
    assert type(sent[0]).__name__ == "FileWrapper"  # a server may sendfile it
    (server,) = server_spans(spans)
    assert server.name == "GET /docs/docs.js"
    assert no_current_span()


@pytest.mark.parametrize("app", [("dual", "database")], indirect=True)
def test_a_request_continues_the_callers_trace_and_says_only_what_it_needs(client, auth, spans):
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    spans.clear()
    response = client.get(
        "/api/workflows?limit=5&note=not-for-spans",
        headers={**auth, "traceparent": f"00-{trace_id}-{parent}-01", "User-Agent": "probe/1"},
    )
    assert response.status_code == 200
    (server,) = server_spans(spans)
    assert server.name == "GET /api/workflows"
    assert format(server.context.trace_id, "032x") == trace_id
    assert format(server.parent.span_id, "016x") == parent
    assert dict(server.attributes) == {
        "http.request.method": "GET",
        "http.route": "/api/workflows",
        "url.path": "/api/workflows",
        "url.scheme": "http",
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/1",
        "http.response.status_code": 200,
    }
    children = [
        span.name
        for span in spans.get_finished_spans()
        if span.parent is not None and span.parent.span_id == server.context.span_id
    ]
    assert "workflows.list" in children, children


@pytest.mark.parametrize("app", [("database-only", None)], indirect=True)
def test_probes_make_no_trace_and_a_failed_request_is_an_error_span(app, client, auth, spans):
    spans.clear()
    for path in ("/health", "/health/ready", "/metrics"):
        client.get(path)
    assert server_spans(spans) == []
    get_storage(app).parts.health.mark_down("connection refused")
    assert client.get("/api/workflows", headers=auth).status_code == 503
    (server,) = server_spans(spans)
    assert server.attributes["http.response.status_code"] == 503
    assert server.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)
def test_a_request_that_raises_is_an_error_span_naming_only_the_error_type(app, spans):
    def broken():
        raise RuntimeError("a message that could carry anything")

    app.add_url_rule("/broken", view_func=broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: a 500, not a raise
    spans.clear()
    assert app.test_client().get("/broken").status_code == 500
    (server,) = server_spans(spans)
    assert server.attributes["error.type"] == "RuntimeError"
    assert server.status.status_code is StatusCode.ERROR
    assert "could carry" not in repr(server.to_json())
