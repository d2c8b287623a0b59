"""`http_request` against a local server on 127.0.0.1: what it sends (method, query,
headers, body, the attempt's idempotency key, a credential's header), what it records,
and where it refuses to go: the deny list after DNS (the cloud metadata range by default,
IPv4 written as IPv6 too), an allow list, redirects into a refused range, credentials
across origins, answers too long."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from tests.factories import make_credential
from tests.runs import FAST, Platform, edge, node
from wfplatform.executions.destinations import NetworkPolicy

SECRET = "s3cr3t-token-value"
DEFAULT_DENY = NetworkPolicy.parse("169.254.0.0/16,fe80::/10,fd00:ec2::/32")


class Recorder(BaseHTTPRequestHandler):
    """Answers by path: `/echo` the request as JSON, `/status/N` N, `/go?to=URL` a 302,
    `/long` more than a small limit, `/text` text with a NUL."""

    seen: list[dict]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        url = urlparse(self.path)
        self.seen.append(
            {"method": self.command, "path": url.path, "headers": dict(self.headers), "body": body}
        )
        if url.path == "/go":
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query)["to"][0])
            self.end_headers()
            return
        status = int(url.path.rsplit("/", 1)[1]) if url.path.startswith("/status/") else 200
        if url.path == "/long":
            payload, kind = b"x" * 5000, "text/plain"
        elif url.path == "/text":
            payload, kind = b"a\x00b", "text/plain; charset=utf-8"
        else:
            echo = {"method": self.command, "query": parse_qs(url.query), "body": body}
            payload, kind = json.dumps(echo).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict]]]:
    """A server on 127.0.0.1 and what it was sent."""
    seen: list[dict] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_platform(make_storage):
    made: list[Platform] = []

    def make(policy: NetworkPolicy = DEFAULT_DENY, **settings) -> Platform:
        platform = Platform(
            make_storage("memory-only"), dataclasses.replace(FAST, network=policy, **settings)
        )
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()


def request_node(**parameters) -> dict:
    return node("call", "http_request", **parameters)


def run_call(platform: Platform, call: dict, given=None):
    flow = platform.workflow([node("start", "manual"), call], [edge("start", "call")])
    done = platform.run(flow, given)
    return done, [n for n in platform.nodes_of(done) if n.node_id == "call"]


def test_sends_the_request_and_records_the_answer_with_the_idempotency_key(make_platform, server):
    url, seen = server
    platform = make_platform()
    call = request_node(
        url=url + "/echo/{{ $json.order }}",
        method="POST",
        query={"q": "{{ $json.order }}"},
        headers={"X-Order": "{{ $json.order }}"},
        body={"order": "{{ $json.order }}"},
    )
    done, (attempt,) = run_call(platform, call, {"order": 42})
    assert done.status == "success", done.error
    (sent,) = seen
    assert (sent["method"], sent["path"]) == ("POST", "/echo/42")
    assert sent["headers"]["X-Order"] == "42"
    assert sent["headers"]["Idempotency-Key"] == f"{done.id}:call:1"
    assert json.loads(sent["body"]) == {"order": 42}
    (item,) = attempt.output[0]
    assert item["status"] == 200
    assert item["body"] == {"method": "POST", "query": {"q": ["42"]}, "body": '{"order": 42}'}
    assert item["headers"]["content-type"] == "application/json"


def test_sends_a_credentials_header_and_never_records_its_value(make_platform, server):
    url, seen = server
    platform = make_platform()
    credential = platform.storage.credentials.add(
        make_credential(platform.user, type="httpHeaderAuth")
    )
    sealed = platform.engine.runner.credentials.ring.seal(
        json.dumps({"name": "X-Api-Key", "value": SECRET}).encode(), credential.sealing_context()
    )
    platform.storage.credentials.update(
        dataclasses.replace(credential, sealed_data=sealed, version=credential.version + 1)
    )
    call = {
        **request_node(url=url + "/status/500"),
        "credentials": {"httpHeaderAuth": {"id": credential.id}},
    }
    done, (attempt,) = run_call(platform, call)
    assert seen[0]["headers"]["X-Api-Key"] == SECRET
    assert done.status == "failed"
    assert attempt.error == {"message": "GET answered 500", "node_id": "call"}
    stored = json.dumps([vars(n) for n in platform.nodes_of(done)], default=str)
    assert SECRET not in stored and SECRET not in json.dumps(vars(done), default=str)
    assert SECRET not in json.dumps([vars(e) for e in platform.heard], default=str)


def test_an_answer_outside_2xx_passes_when_asked_to(make_platform, server):
    url, _ = server
    done, (attempt,) = run_call(
        make_platform(), request_node(url=url + "/status/404", fail_on_status=False)
    )
    assert done.status == "success"
    assert attempt.output[0][0]["status"] == 404


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fe80::1]/",
    ],
)
def test_the_metadata_range_is_refused_by_default(make_platform, target):
    done, (attempt,) = run_call(make_platform(), request_node(url=target, timeout_seconds=1))
    assert done.status == "failed"
    assert attempt.error["message"].startswith("refused: ")
    assert "WF_HTTP_DENY" in attempt.error["message"]


def test_a_deny_list_is_checked_after_resolving_the_name(make_platform, server):
    url, seen = server
    denied = make_platform(NetworkPolicy.parse("127.0.0.0/8,::1/128"))
    port = url.rsplit(":", 1)[1]
    for target in (url + "/echo", f"http://localhost:{port}/echo"):
        done, (attempt,) = run_call(denied, request_node(url=target))
        assert done.status == "failed"
        assert "WF_HTTP_DENY" in attempt.error["message"]
    assert seen == []  # nothing reached the server


def test_an_allow_list_admits_only_its_ranges(make_platform, server):
    url, seen = server
    elsewhere = make_platform(NetworkPolicy.parse("", "10.0.0.0/8"))
    done, (attempt,) = run_call(elsewhere, request_node(url=url + "/echo"))
    assert "WF_HTTP_ALLOW" in attempt.error["message"]
    assert seen == []
    local = make_platform(NetworkPolicy.parse("", "127.0.0.1/32"))
    assert run_call(local, request_node(url=url + "/echo"))[0].status == "success"


def test_a_redirect_into_a_refused_range_is_refused(make_platform, server):
    url, seen = server
    target = url + "/go?to=http://169.254.169.254/latest/meta-data/"
    done, (attempt,) = run_call(make_platform(), request_node(url=target, timeout_seconds=1))
    assert done.status == "failed"
    assert "169.254.169.254" in attempt.error["message"]
    assert [s["path"] for s in seen] == ["/go"]


def test_a_credential_does_not_follow_a_redirect_to_another_origin(make_platform, server):
    url, seen = server
    other = url.replace("127.0.0.1", "localhost")  # another origin, the same server
    platform = make_platform()
    credential = platform.storage.credentials.add(
        make_credential(platform.user, type="httpBasicAuth")
    )
    call = {
        **request_node(url=f"{url}/go?to={other}/echo"),
        "credentials": {"httpBasicAuth": {"id": credential.id}},
    }
    done, _ = run_call(platform, call)
    assert done.status == "success", done.error
    first, second = seen
    assert "Authorization" in first["headers"]
    assert "Authorization" not in second["headers"]
    assert second["headers"]["Idempotency-Key"] == first["headers"]["Idempotency-Key"]


def test_an_answer_past_the_limit_fails_and_unstorable_text_is_replaced(make_platform, server):
    url, _ = server
    platform = make_platform(max_response_bytes=1000)
    done, (attempt,) = run_call(platform, request_node(url=url + "/long"))
    assert attempt.error["message"] == "the answer is longer than 1000 bytes"
    done, (attempt,) = run_call(platform, request_node(url=url + "/text"))
    assert done.status == "success"
    assert attempt.output[0][0]["body"] == "a\ufffdb"


def test_a_url_with_a_password_in_it_is_refused(make_platform, server):
    url, seen = server
    target = url.replace("http://", "http://user:pass@") + "/echo"
    done, (attempt,) = run_call(make_platform(), request_node(url=target))
    assert attempt.error["message"] == "the URL holds a user name or password: use a credential"
    assert seen == []
