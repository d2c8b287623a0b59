"""Every string a request carries is text every backend can store (see `domain.text`):
no lone UTF-16 surrogate, no NUL. Checked here once for every route, present and future:

- headers and query parameters before anything reads them (authentication included), and
  path parameters (such a path names nothing: 404);
- a JSON body wherever it is read: webargs and Flask's `get_json` both read it through
  `Request.get_data`, which checks it first. A route that streams its body
  (`request.stream`, the admin import) parses it itself, and the domain's checks refuse
  each record holding such text.

Anything else is a 422 in the error shape, its details naming where (webargs' locations:
`headers`, `query`, `json`), never the text itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Request, request
from flask_smorest import abort

from ..domain.text import text_problems

# In UTF-8 JSON, the only ways to a NUL or a surrogate are these escapes (a raw NUL in a
# string is invalid JSON; raw surrogate bytes are not UTF-8). `\\u0000` (an escaped
# backslash) matches too: that only costs a closer look.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class TextCheckedRequest(Request):
    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        data = super().get_data(cache=cache, parse_form_data=parse_form_data)
        if self.is_json and _may_hold_unstorable(data):
            _refuse_unstorable({"json": _parsed(data)})
        return data.decode(errors="replace") if as_text else data


def _may_hold_unstorable(data: bytes) -> bool:
    """A quick look at the raw body (a few milliseconds for 10 MB): False proves it clean."""
    if _SUSPECT_ESCAPE.search(data):
        return True
    if data.isascii():
        return False
    try:
        data.decode()
    except UnicodeDecodeError:  # e.g. a surrogate's bytes, which `get_json` would decode
        return True
    return False


def _parsed(data: bytes) -> Any:
    """The body as `get_json` parses it (surrogates' bytes included); None when it is not
    JSON: its reader then says so."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def _check_request() -> None:
    if text_problems(request.view_args or {}):
        abort(404)  # no record has such a key (the address names nothing)
    query = {key: values[0] if len(values) == 1 else values for key, values in request.args.lists()}
    _refuse_unstorable({"headers": dict(request.headers), "query": query})


def _refuse_unstorable(locations: dict[str, Any]) -> None:
    problems = text_problems(locations)
    if problems:
        abort(422, messages=problems)


def init_app(app: Flask) -> None:
    """Call before anything else reads requests (before authentication)."""
    app.request_class = TextCheckedRequest
    app.before_request(_check_request)
