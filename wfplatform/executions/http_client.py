"""HTTP for `http_request`, with every destination checked (`destinations`): urllib3
connects to the address the policy checked (TLS still verifies the host's name), follows
redirects itself so that each one is checked again, and reads a bounded response."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError, LocationParseError

from ..domain.json_numbers import parse_number
from ..domain.text import scrub
from .destinations import DestinationRefused, NetworkPolicy

REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK = 65_536


class RequestFailed(Exception):
    """The request was refused or did not get an answer; the message says why, without
    the request's headers."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON when the answer says it is JSON, else text
    url: str  # after redirects


@dataclass(frozen=True)
class HttpClient:
    policy: NetworkPolicy
    max_response_bytes: int = 10 * 1024 * 1024
    user_agent: str = "wfplatform"

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float,
        max_redirects: int = 5,
        secret_headers: frozenset[str] = frozenset(),
    ) -> Response:
        """`secret_headers` (lower-case names) are dropped when a redirect leaves the origin
        (a credential is for the host it was meant for)."""
        headers = {"User-Agent": self.user_agent, **headers}
        for _ in range(max_redirects + 1):
            target = _parse(url)
            response = self._open(target, method, headers, body, timeout)
            try:
                location = response.headers.get("location")
                if response.status not in REDIRECTS or not location:
                    return Response(response.status, _headers(response), self._body(response), url)
            finally:
                response.release_conn()
            following = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            if _origin(_parse(following)) != _origin(target):
                headers = {k: v for k, v in headers.items() if k.lower() not in secret_headers}
            url = following
        raise RequestFailed(f"more than {max_redirects} redirects")

    def _open(self, target, method: str, headers: dict, body: bytes | None, timeout: float):
        port = target.port or DEFAULT_PORTS[target.scheme]
        name = target.host.strip("[]")  # an IPv6 address, as a URL writes it
        try:
            address = self.policy.resolve(name, port)
        except DestinationRefused as refused:
            raise RequestFailed(f"refused: {refused}") from None
        options: dict[str, Any] = {"timeout": urllib3.Timeout(connect=timeout, read=timeout)}
        if target.scheme == "https":
            pool_type: type = urllib3.HTTPSConnectionPool
            options.update(server_hostname=name, assert_hostname=name)
        else:
            pool_type = urllib3.HTTPConnectionPool
        pool = pool_type(address, port, maxsize=1, retries=False, **options)
        host = target.host if target.port is None else f"{target.host}:{target.port}"
        try:
            return pool.urlopen(
                method,
                target.request_uri,
                body=body,
                headers={**headers, "Host": host},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except (
            HTTPError,
            ValueError,
            OSError,
        ) as error:  # ValueError: a header http.client refuses
            raise RequestFailed(f"{method} {target.host}: {_reason(error)}") from None
        finally:
            pool.close()

    def _body(self, response) -> Any:
        data = bytearray()
        try:
            for chunk in response.stream(CHUNK):
                data += chunk
                if len(data) > self.max_response_bytes:
                    raise RequestFailed(
                        f"the answer is longer than {self.max_response_bytes} bytes"
                    )
        except (HTTPError, OSError) as error:
            raise RequestFailed(f"reading the answer: {_reason(error)}") from None
        kind, _, options = response.headers.get("content-type", "").partition(";")
        charset = _charset(options) or "utf-8"
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        if kind.strip().lower().endswith(("/json", "+json")):
            try:
                return scrub(json.loads(text, parse_constant=_not_json, parse_float=_number))
            except ValueError:
                pass
        return scrub(text)


def _parse(url: str):
    try:
        target = urllib3.util.parse_url(url)
    except LocationParseError:
        raise RequestFailed("not a URL") from None
    if target.scheme not in DEFAULT_PORTS or not target.host:
        raise RequestFailed("the URL must be http:// or https:// with a host")
    if target.auth:
        raise RequestFailed("the URL holds a user name or password: use a credential")
    return target


def _not_json(constant: str) -> None:
    """NaN and Infinity: Python's parser takes them, JSON and PostgreSQL do not."""
    raise ValueError(constant)


def _number(text: str) -> float | int:
    """As the API reads numbers (`json_numbers`); past a float's range, not JSON here (no
    backend stores an infinity): the body is kept as text."""
    value = parse_number(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(text)
    return value


def _origin(target) -> tuple:
    return (target.scheme, target.host, target.port or DEFAULT_PORTS[target.scheme])


def _headers(response) -> dict[str, str]:
    return {name.lower(): scrub(value) for name, value in response.headers.items()}


def _charset(options: str) -> str | None:
    for option in options.split(";"):
        name, _, value = option.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


def _reason(error: Exception) -> str:
    """The kind of failure (`ConnectTimeoutError`, `NewConnectionError`, ...), without its
    message: urllib3's repeats the pool and the address, and http.client's refusal of a
    header repeats the header, a credential's value included."""
    return type(getattr(error, "reason", None) or error).__name__
