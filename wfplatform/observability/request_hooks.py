"""Per request: its id (an incoming `X-Request-ID` when well-formed, else a new one,
echoed in the response) and the HTTP metrics, labelled by the URL rule, never the raw
path (ids in paths would make a series per record)."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from .metrics import Metrics

HEADER = "X-Request-ID"
VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id() -> str:
    incoming = request.headers.get(HEADER, "")
    return incoming if VALID_ID.fullmatch(incoming) else uuid.uuid4().hex


def init_app(app: Flask, metrics: Metrics) -> None:
    def start() -> None:
        g.request_id = request_id()
        g.request_started = time.perf_counter()

    def finish(response: Response) -> Response:
        response.headers[HEADER] = g.get("request_id") or request_id()
        started = g.get("request_started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            method = request.method if request.method in METHODS else "other"
            metrics.observe_request(
                method, rule, response.status_code, time.perf_counter() - started
            )
        return response

    # First of all hooks: authentication and rate limits log with the id and are timed.
    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request(finish)
