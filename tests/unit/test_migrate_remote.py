"""`migrate_data.py --url` hands the admin token to the service it was given and to no one
else: redirects are refused, and the token comes from WF_TOKEN or a file, not `ps`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from wfplatform.cli.backfill import migrate_data

TOKEN = "admin-token-1234"


class Recorder:
    """A loopback HTTP server that records the Authorization header of each request and
    answers with `answer(path)`: (status, headers, JSON body)."""

    def __init__(self, answer) -> None:
        self.seen: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = answer(self.path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # shutdown() waits for the loop's next poll: every 0.05s, not the default 0.5s
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def refuse_everything(_path):
    return 401, {}, {"error": {"code": "unauthorized", "message": "no", "details": None}}


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    """Another origin (same host, another port), where a token must never arrive."""
    with Recorder(refuse_everything) as server:
        yield server


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(migrate_data, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_origin_is_refused_and_the_token_never_follows(elsewhere, status):
    def redirect(path):
        return status, {"Location": elsewhere.url + path}, {}

    with Recorder(redirect) as service:
        result = run("--url", service.url, "--dry-run", env={"WF_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "redirect" in result.output and elsewhere.url in result.output
    assert service.seen == [("/admin/migrations", f"Bearer {TOKEN}")]
    assert elsewhere.seen == []


def test_a_redirect_within_the_service_is_refused_too(elsewhere):
    def redirect(path):
        return 302, {"Location": "/somewhere-else"}, {}

    with Recorder(redirect) as service:
        result = run("--url", service.url, env={"WF_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "redirect" in result.output
    assert [path for path, _ in service.seen] == ["/admin/migrations"]


def test_the_token_is_read_from_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    with Recorder(refuse_everything) as service:
        result = run("--url", service.url, "--token-file", str(token_file))
    assert result.exit_code == 1
    assert service.seen == [("/admin/migrations", f"Bearer {TOKEN}")]
    assert "process list" not in result.output


def test_the_token_is_read_from_wf_token_without_a_warning():
    with Recorder(refuse_everything) as service:
        result = run("--url", service.url, env={"WF_TOKEN": TOKEN})
    assert service.seen == [("/admin/migrations", f"Bearer {TOKEN}")]
    assert "process list" not in result.output


def test_a_token_on_the_command_line_still_works_with_a_warning():
    with Recorder(refuse_everything) as service:
        result = run("--url", service.url, "--token", TOKEN)
    assert service.seen == [("/admin/migrations", f"Bearer {TOKEN}")]
    assert "--token shows in the process list" in result.stderr
    assert TOKEN not in result.output


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_an_empty_token_file_is_a_usage_error(tmp_path, content):
    token_file = tmp_path / "token"
    token_file.write_text(content)
    result = run("--url", "http://127.0.0.1:9", "--token-file", str(token_file))
    assert result.exit_code == 1
    assert "is empty" in result.output


def test_a_token_and_a_token_file_exclude_each_other(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    args = ("--url", "http://127.0.0.1:9", "--token", TOKEN, "--token-file", str(token_file))
    result = run(*args)
    assert result.exit_code == 1
    assert "exclude each other" in result.output
