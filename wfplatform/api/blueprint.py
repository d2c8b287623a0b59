"""The API's blueprints: flask-smorest's, reading JSON bodies with numbers every backend
stores alike.

Python's `json` turns an integer of more than 4300 digits into a `ValueError` webargs does
not catch (a 500 for any anonymous client): here it is an unreadable body (400). Numbers
are read as every backend keeps them (`domain.json_numbers`)."""

from __future__ import annotations

import json
from typing import Any

import flask_smorest
from flask import Request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..domain.json_numbers import parse_number


def load_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=parse_number)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer too long to convert
        raise json.JSONDecodeError(str(exc), text, 0) from exc


class JsonBodyParser(FlaskParser):
    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        try:
            text = req.get_data(cache=True).decode("utf-8")
        except UnicodeDecodeError as exc:  # as webargs answers it: an unreadable body
            # (never an empty `doc`: webargs reads that as no body at all)
            raise json.JSONDecodeError(exc.reason, str(exc.object), exc.start) from exc
        return load_json(text)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonBodyParser()
