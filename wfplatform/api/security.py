"""Who is calling: an access token or an API key, as `Authorization: Bearer ...` or
`X-API-Key: ...`. Authentication runs before the rate limiter, so limits are per user."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, g, request

from ..domain.users import User
from ..errors import Forbidden, Unauthorized
from ..services.api_keys import is_api_key
from ..services.context import Actor
from .services import services

SECURITY = [{"bearer": []}, {"apiKey": []}]


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <token or API key>'")
        return value.strip()
    return request.headers.get("X-API-Key") or None


def _authenticate() -> None:
    g.user = None
    if not request.path.startswith(("/api/", "/admin/")):
        return
    credential = _credential()
    if credential is None:
        return
    if is_api_key(credential):
        g.user = services().api_keys.authenticate(credential)
    else:
        g.user = services().accounts.authenticate_token(credential)


def current_user() -> User:
    user = g.get("user")
    if user is None:
        raise Unauthorized("log in first: send an access token or an API key")
    return user


def current_actor() -> Actor:
    user = g.get("user")
    return Actor(
        user_id=user.id if user else None,
        role=user.role if user else "anonymous",
        ip=request.remote_addr,
        user_agent=request.user_agent.string or None,
    )


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_user()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user().role != "admin":
            raise Forbidden("this needs the admin role")
        return view(*args, **kwargs)

    return wrapper


def init_app(app: Flask) -> None:
    app.before_request(_authenticate)
