"""Rate limits: per user on the API (`WF_RATELIMIT_API`), per client address on login and
registration (`WF_RATELIMIT_LOGIN`), and per client address on requests whose token or
API key fails (counted before the 401, which would otherwise escape every limit). A
counted answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (unix seconds); a 429 also `Retry-After`.

Counting is `services.rate_limits` (the `limits` library); this is the Flask side. A
blueprint or a view names its one limit. It replaced Flask-Limiter, whose working out of
which limits apply to each request (decorators, blueprints, defaults, exemptions) cost
about a tenth of a GET's CPU."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, g, request

from ..bootstrap import services
from ..config import ConfigurationError
from ..errors import TooManyAttempts
from ..services.addresses import client_key
from ..services.rate_limits import Verdict, parsed

API = "WF_RATELIMIT_API"
LOGIN = "WF_RATELIMIT_LOGIN"
FAILED_AUTHENTICATION = "failed-authentication"
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def per_user_or_address() -> str:
    user = g.get("user")
    return f"user:{user.id}" if user is not None else per_address()


def per_address() -> str:
    """An IPv6 client by its /64 network (see `services.addresses`)."""
    return f"address:{client_key(request.remote_addr or '127.0.0.1')}"


def _count(setting: str, scope: str, key: str) -> Verdict:
    return services().rate_limits.hit(current_app.config[setting], scope, key)


def _refuse_past(verdict: Verdict, refusal: str) -> None:
    if not verdict.allowed:
        raise TooManyAttempts(refusal, retry_after=verdict.retry_after)


def _count_request(setting: str, scope: str, key: str) -> None:
    g.rate_limit = _count(setting, scope, key)  # a 429 carries its window too
    _refuse_past(g.rate_limit, "too many requests; try again later")


def limit_per_user(blueprint: Blueprint) -> None:
    """Every route of `blueprint` at `WF_RATELIMIT_API`, per user (per address before
    login): one count per user over every blueprint limited so."""
    blueprint.before_request(lambda: _count_request(API, API, per_user_or_address()))


def limit_per_address(view: Callable) -> Callable:
    """A view at `WF_RATELIMIT_LOGIN` per client address, counted per view (login and
    registration each)."""

    @functools.wraps(view)
    def limited(*args, **kwargs):
        _count_request(LOGIN, f"{LOGIN}:{request.endpoint}", per_address())
        return view(*args, **kwargs)

    return limited


def count_failed_authentication() -> None:
    """Count a request whose credential failed against its address, at the login limit;
    past it, 429 instead of 401. Tokens are signed and keys are 256 random bits, so this
    is about cost, not guessing: a valid credential from the address still gets through."""
    verdict = _count(LOGIN, FAILED_AUTHENTICATION, per_address())
    _refuse_past(verdict, "too many requests with failing credentials; try again later")


def _stamp(response: Response) -> Response:
    verdict = g.get("rate_limit")
    if verdict is not None:
        values = (verdict.limit, verdict.remaining, int(verdict.reset_at))
        response.headers.update(zip(HEADERS, map(str, values), strict=True))
    return response


def init_app(app: Flask) -> None:
    for setting in (API, LOGIN):
        try:
            parsed(app.config[setting])
        except ValueError:
            raise ConfigurationError(
                f"{setting}={app.config[setting]!r} is not a rate limit (e.g. '300 per minute')"
            ) from None
    app.after_request(_stamp)
