"""Who is calling: an access token or an API key, as `Authorization: Bearer ...` or
`X-API-Key: ...`. Authentication runs before the rate limiter, so limits are per user; a
request whose credential fails counts against its client address first (see limits)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, g, request

from ..bootstrap import services
from ..domain.users import User
from ..errors import Forbidden, Unauthorized
from ..services.api_keys import is_api_key
from ..services.context import Actor
from .limits import count_failed_authentication

SECURITY = [{"bearer": []}, {"apiKey": []}]


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <token or API key>'")
        return value.strip()
    return request.headers.get("X-API-Key") or None


def ignores_credentials(view_class: type) -> type:
    """For routes whose body carries the credentials (login, registration): a stale token
    a client still sends must not stand in the way of logging in again."""
    view_class.ignores_credentials = True
    return view_class


def _ignores_credentials() -> bool:
    view = current_app.view_functions.get(request.endpoint)
    return getattr(getattr(view, "view_class", None), "ignores_credentials", False)


def _authenticate() -> None:
    g.user, g.by_api_key = None, False
    if not request.path.startswith(("/api/", "/admin/")) or _ignores_credentials():
        return
    try:
        credential = _credential()
        if credential is None:
            return
        if is_api_key(credential):
            g.user, g.by_api_key = services().api_keys.authenticate(credential), True
        else:
            g.user = services().accounts.authenticate_token(credential)
    except Unauthorized:
        count_failed_authentication()
        raise


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
        label=user.email if user else None,
    )


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_user()
        return view(*args, **kwargs)

    return wrapper


def access_token_required(view: Callable) -> Callable:
    """For what must never be done with an API key (minting keys): a key that could mint
    keys would outlive its own revocation."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_user()
        if g.get("by_api_key"):
            raise Forbidden("an API key cannot do this; log in and use an access token")
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
