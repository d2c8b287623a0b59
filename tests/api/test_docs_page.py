"""The interactive /docs page works with no network: every file it loads comes from this
service (Swagger UI's from an installed package), and none of them names another host."""

from __future__ import annotations

import re
import socket
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(params=[pytest.param(("memory-only", None), id="memory-only")])
def app(request, app):
    return app


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection (a CDN, a validator) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"the docs page reached for the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class Loads(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, style sheets, images, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name) and not (tag == "a" and name == "href"):
                self.urls.append(attributes[name])


def page_loads(html: str) -> list[str]:
    parser = Loads()
    parser.feed(html)
    return parser.urls


def test_the_page_and_every_file_it_loads_come_from_this_service(client, no_network):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    loads = page_loads(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in loads), loads
    assert any(url.endswith("swagger-ui.css") for url in loads), loads
    for url in loads:
        absolute = urljoin("http://localhost/docs", url)
        assert urlsplit(absolute).netloc == "localhost", f"{url} is on another host"
        with client.get(urlsplit(absolute).path) as asset:
            assert asset.status_code == 200, url
            content = asset.get_data()
        assert content, url
        for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"):
            assert cdn.encode() not in content, f"{url} names {cdn}"


def test_the_page_runs_no_inline_script_and_names_the_document(client):
    html = client.get("/docs").get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert inline == []  # so its Content-Security-Policy need not allow inline scripts
    assert "/openapi.json" in html


def test_the_page_turns_off_the_online_validator(client):
    """Swagger UI would send the document to validator.swagger.io for its badge."""
    html = client.get("/docs").get_data(as_text=True)
    assert '"validatorUrl": null' in html


def test_an_unknown_asset_is_a_404_not_a_file_outside_the_package(client):
    assert client.get("/docs/assets/no-such-file.js").status_code == 404
    assert client.get("/docs/assets/../../__init__.py").status_code == 404
