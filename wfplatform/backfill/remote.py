"""Following a backfill that a running service performs on its live memory."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

FIRST_POLL_SECONDS = 0.05
POLL_SECONDS = 0.5


class ServiceError(Exception):
    def __init__(self, status: int, body: dict) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message") or f"HTTP {status}")
        self.status = status
        self.code = error.get("code")
        self.details = error.get("details")


class Unreachable(Exception):
    """The service did not answer (wrong URL, refused, timed out, redirected)."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would repeat the request, `Authorization` included, wherever a redirect
    points, another host too. The admin API never redirects, so a redirect means a wrong
    `--url` (a proxy sending http to https, say): say where it points, follow none."""

    def http_error_302(self, req, fp, code, msg, headers):
        fp.close()
        raise Unreachable(
            f"{req.full_url} answered a redirect ({code}) to {headers.get('Location')}: "
            "refused, so that the token goes nowhere else; give the final address with --url"
        )

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class Service:
    """The admin API of a running wfplatform, with an admin's token or API key."""

    def __init__(self, url: str, token: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def call(self, method: str, path: str, body: Any = None) -> tuple[dict, dict]:
        """(JSON body, headers); a non-2xx answer raises `ServiceError`."""
        data = json.dumps(body).encode() if body is not None else None
        try:
            request = urllib.request.Request(self.url + path, data=data, method=method)
            request.add_header("Authorization", f"Bearer {self.token}")
            request.add_header("Content-Type", "application/json")
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}"), dict(response.headers)
        except urllib.error.HTTPError as error:
            try:
                payload = json.loads(error.read() or b"{}")
            except json.JSONDecodeError:
                payload = {}
            raise ServiceError(error.code, payload) from None
        except (urllib.error.URLError, ValueError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise Unreachable(f"{self.url} did not answer: {reason}") from None

    def start(self, request: dict) -> str:
        _, headers = self.call("POST", "/admin/migrations", request)
        return headers["Location"]

    def follow(self, location: str, on_progress: Callable[[dict], None]) -> dict:
        """Ask for the job until it ends: soon at first (a small run ends within a second),
        then every `POLL_SECONDS`."""
        pause = FIRST_POLL_SECONDS
        while True:
            job, _ = self.call("GET", location)
            on_progress(job)
            if job.get("state") != "running":
                return job
            time.sleep(pause)
            pause = min(2 * pause, POLL_SECONDS)

    def rollback(self, run_id: str, dry_run: bool, force: bool) -> str:
        """Start the service's rollback job; returns where to follow it."""
        body = {"dry_run": dry_run, "force": force}
        path = f"/admin/migrations/{urllib.parse.quote(run_id, safe='')}/rollback"
        return self.call("POST", path, body)[1]["Location"]
