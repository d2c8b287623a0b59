"""Rate limits (Flask-Limiter, on the `limits` library): per user on the API, per client
address on login and registration, and per client address on requests whose token or API
key fails (counted before the 401, which would otherwise escape every limit); counters in
memory for one process, or shared through Redis with `WF_RATELIMIT_STORAGE_URL=redis://...`
when several run. A 429 carries `Retry-After`."""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

from ..errors import TooManyAttempts
from ..services.addresses import client_key
from .limit_counters import storage_uri


def per_user_or_address() -> str:
    user = g.get("user")
    return f"user:{user.id}" if user is not None else per_address()


def per_address() -> str:
    """An IPv6 client by its /64 network (see `services.addresses`)."""
    return f"address:{client_key(get_remote_address())}"


def api_limit() -> str:
    return current_app.config["WF_RATELIMIT_API"]


def login_limit() -> str:
    return current_app.config["WF_RATELIMIT_LOGIN"]


limiter = Limiter(per_user_or_address)


def retry_after_seconds() -> int:
    """Seconds until the limit that refused this request lets requests through again."""
    current = limiter.current_limit
    return max(1, math.ceil(current.reset_at - time.time())) if current is not None else 60


def count_failed_authentication() -> None:
    """Count a request whose credential failed against its address, at the login limit;
    past it, 429 instead of 401. Tokens are signed and keys are 256 random bits, so this
    is about cost, not guessing: a valid credential from the address still gets through."""
    if not limiter.enabled:
        return
    limit = parse(login_limit())
    identity = (current_app.config.get("RATELIMIT_KEY_PREFIX", ""), "failed-auth", per_address())
    if not limiter.limiter.hit(limit, *identity):
        reset_at = limiter.limiter.get_window_stats(limit, *identity).reset_time
        raise TooManyAttempts(
            "too many requests with failing credentials; try again later",
            retry_after=max(1, math.ceil(reset_at - time.time())),
        )


def init_app(app: Flask) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(app.config["RATELIMIT_STORAGE_URI"])
    limiter.init_app(app)
