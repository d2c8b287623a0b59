"""The OpenAPI document is generated from the code and covers every API route."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(params=[pytest.param(("memory-only", None), id="memory-only")])
def app(request, app):
    return app


def test_every_api_route_and_method_is_documented(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in /openapi.json"


def test_the_interactive_page_is_served(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.get_data(as_text=True).lower()
