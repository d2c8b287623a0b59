from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.runs import FAST, Platform, edge, node, until

MODES = [
    pytest.param(("memory-only", None), id="memory-only"),
    pytest.param(("dual", "database"), id="dual-read-database"),
    pytest.param(("database-only", None), id="database-only"),
]


@pytest.fixture(params=MODES)
def storage(request, make_storage):
    mode, read_from = request.param
    return make_storage(mode, read_from=read_from)


class Answers(BaseHTTPRequestHandler):
    def do_GET(self):
        payload = b'{"x": 1e400}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_probe_inf(storage, server):
    p = Platform(storage)
    try:
        flow = p.workflow([node("start", "manual"), node("call", "http_request", url=server + "/")], [edge("start", "call")])
        done = p.run(flow, seconds=3)
        print(done.status, done.error)
        print([(n.node_id, n.status, n.output, n.error) for n in p.nodes_of(done)])
        assert done.status == "success"
    finally:
        p.close()


def nest(depth):
    value = "{{ $json }}"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_probe_deep(make_storage):
    p = Platform(make_storage("memory-only"))
    try:
        nodes = [node("start", "manual")] + [node(f"s{i}", "set", values={"a": nest(28)}, keep_only_set=True) for i in range(40)]
        edges = [edge("start", "s0")] + [edge(f"s{i}", f"s{i+1}") for i in range(39)]
        flow = p.workflow(nodes, edges)
        done = p.run(flow, seconds=5)
        print(done.status, done.error)
        print([(n.node_id, n.status, n.error) for n in p.nodes_of(done)][-3:])
        assert done.status == "failed"
    finally:
        p.close()
