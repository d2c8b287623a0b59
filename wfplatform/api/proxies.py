"""Behind reverse proxies: `WF_TRUSTED_PROXIES=N` believes the last N entries of
`X-Forwarded-For` and `X-Forwarded-Proto` (werkzeug's ProxyFix), so the rate limits and
the audit log see each client's address instead of the proxy's.

Off (0) by default: without a proxy in front, any client could write those headers and
pick the address it is limited and audited under. Set N to the number of proxies that
append to the headers (nginx with `proxy_add_x_forwarded_for`: 1), never more."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import ConfigurationError


def init_app(app: Flask) -> None:
    hops = app.config["WF_TRUSTED_PROXIES"]
    if hops < 0:
        raise ConfigurationError(f"WF_TRUSTED_PROXIES={hops}: a number of proxies, 0 or more")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
