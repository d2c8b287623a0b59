"""Logs as one JSON object per line, each carrying the request id and the current trace
and span ids, so a log line leads to its trace and a trace to its log lines.

`install()` puts one handler on the root logger (again on every call: the last app wins,
as with any root logger set-up). `WF_LOG_FORMAT=text` leaves logging to the host
(gunicorn's `--log-config`, `logging.basicConfig`, ...); `WF_LOG_LEVEL` (default `INFO`)
sets the root level. Only the message and the fields below are written: never request
bodies or headers, and extra fields whose names suggest a secret are masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from flask import g, has_request_context
from opentelemetry import trace

from ..config import ConfigurationError

SECRET_NAME = re.compile(r"pass|secret|token|key|auth|credential|cookie", re.IGNORECASE)
# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "span_id",
}


class ContextFilter(logging.Filter):
    """Adds `request_id`, `trace_id` and `span_id` (None outside a request or a span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = "[redacted]" if SECRET_NAME.search(name) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (test runners and
    servers replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def install(log_format: str = "json", level: str = "INFO") -> logging.Handler | None:
    log_format, level = log_format.lower(), level.upper()
    if log_format not in ("json", "text"):
        raise ConfigurationError(f"WF_LOG_FORMAT={log_format!r}: use json or text")
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigurationError(f"WF_LOG_LEVEL={level!r}: use DEBUG, INFO, WARNING or ERROR")
    if log_format == "text":
        return None
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "wf_json", False):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.wf_json = True
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
