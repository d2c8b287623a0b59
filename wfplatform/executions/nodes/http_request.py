"""`http_request`: one request per item, to a destination the network policy allows (see
`executions.destinations`), with the attempt's idempotency key as a header."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from marshmallow import Schema, fields, validate

from ...services.json_fields import JsonBoolean, JsonInteger
from ...services.workflow_content import plain_json
from ..expressions import resolve
from ..http_client import HttpClient, RequestFailed
from .base import NodeCall, NodeFailed, NodeType, Outputs

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_TIMEOUT_SECONDS = 300.0


class HttpRequestParameters(Schema):
    url = fields.String(required=True, validate=validate.Length(1, 8000))
    method = fields.String(load_default="GET", validate=validate.OneOf(METHODS))
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    query = fields.Dict(keys=fields.String(), load_default=dict, validate=plain_json)
    body = fields.Raw(load_default=None, allow_none=True, validate=plain_json)
    timeout_seconds = fields.Float(
        load_default=30.0, validate=validate.Range(0.1, MAX_TIMEOUT_SECONDS), allow_nan=False
    )
    max_redirects = JsonInteger(load_default=5, validate=validate.Range(0, 10))
    fail_on_status = JsonBoolean(
        load_default=True, metadata={"description": "an answer outside 2xx fails the node"}
    )


def _authorization(kind: str, data: dict[str, Any]) -> dict[str, str]:
    """The headers a credential of `kind` adds (n8n's credential types)."""
    if kind == "httpHeaderAuth":
        return {str(data.get("name", "")): str(data.get("value", ""))}
    if kind == "httpBasicAuth":
        pair = f"{data.get('user', '')}:{data.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if kind == "httpBearerAuth":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    raise NodeFailed(f"http_request cannot use a credential of type {kind!r}")


CREDENTIAL_TYPES = ("httpHeaderAuth", "httpBasicAuth", "httpBearerAuth")


class HttpRequest(NodeType):
    name = "http_request"
    description = "Calls an HTTP API once per item; the answer (status, headers, body) is the item."
    parameters = HttpRequestParameters

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def run(self, call: NodeCall) -> Outputs:
        secret: dict[str, str] = {}
        for kind in call.node.get("credentials") or {}:
            secret.update(_authorization(kind, call.credential(kind)))
        items = call.items or [{}]
        return [
            [self._one(call, item, secret, index, len(items)) for index, item in enumerate(items)]
        ]

    def _one(
        self, call: NodeCall, item: dict, secret: dict[str, str], index: int, count: int
    ) -> dict:
        parameters = call.parameters
        url = str(resolve(parameters["url"], item))
        query = resolve(parameters["query"], item)
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query, doseq=True)
        headers = {name: str(value) for name, value in resolve(parameters["headers"], item).items()}
        key = call.idempotency_key if count == 1 else f"{call.idempotency_key}:{index}"
        headers.update({IDEMPOTENCY_HEADER: key, **secret})
        body = resolve(parameters["body"], item)
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            response = self.client.send(
                parameters["method"],
                url,
                headers,
                payload,
                parameters["timeout_seconds"],
                parameters["max_redirects"],
                frozenset(name.lower() for name in secret),
            )
        except RequestFailed as failed:
            raise NodeFailed(str(failed)) from None
        if parameters["fail_on_status"] and not 200 <= response.status < 300:
            raise NodeFailed(f"{parameters['method']} answered {response.status}")
        return {"status": response.status, "headers": response.headers, "body": response.body}
