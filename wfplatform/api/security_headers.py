"""The headers every answer carries, set in one place (an answer that sets one itself,
such as the /docs page's own Content-Security-Policy, keeps its own):

- `X-Content-Type-Options: nosniff`: a browser never takes a JSON answer for a script or
  a page.
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no answer is shown inside
  another site's frame (the older header for browsers that predate the newer one).
- `Content-Security-Policy: default-src 'none'`: a JSON answer opened in a browser loads
  and runs nothing.
- `Referrer-Policy: no-referrer`: URLs (ids, filters) never leave in a `Referer`.
- `Cache-Control: no-store` on every answer, not only those carrying tokens (login,
  password change) or key secrets (key creation): the others are someone's records or
  live state (cut-over, health, metrics), so no browser or shared cache may keep any of
  them. The /docs assets, the same for everyone, are revalidated against their ETag."""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
