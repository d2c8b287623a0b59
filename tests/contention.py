"""Writers racing on the same workflows with `If-Match`, and what must hold afterwards.

Each writer reads a workflow, then changes its name conditionally on the version it read,
asking for a numbered version. The writers line up between the read and the change, so
every round is a real race however the threads are scheduled (without it, writers in a
fast backend could run one after another and never meet). The service must accept at
most one change per version: every accepted change is in the workflow's history under the
version it was answered with, nothing else is, and every other attempt is a 409. The
transport is a callable, so the same race runs in-process (the Flask test client) and
against gunicorn workers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

# (method, path, body, headers) -> (status, JSON body)
Send = Callable[[str, str, object, dict], tuple[int, object]]


class Contention:
    def __init__(self, workflows: list[str]) -> None:
        self.workflows = workflows
        self.lock = threading.Lock()
        self.accepted: dict[str, dict[int, str]] = {key: {} for key in workflows}
        self.statuses: Counter = Counter()
        self.line_up = threading.Barrier(1)

    def writer(self, send: Send, name: str, attempts: int) -> None:
        try:
            self._write(send, name, attempts)
        except BaseException:
            self.line_up.abort()  # the other writers stop waiting for this one
            raise

    def _write(self, send: Send, name: str, attempts: int) -> None:
        for attempt in range(attempts):
            key = self.workflows[attempt % len(self.workflows)]
            status, current = send("GET", f"/api/workflows/{key}", None, {})
            assert status == 200, current
            self.line_up.wait(timeout=60)
            change = {"name": f"{name} attempt {attempt}", "create_version": True}
            headers = {"If-Match": f'"{current["version"]}"'}
            status, body = send("PATCH", f"/api/workflows/{key}", change, headers)
            with self.lock:
                self.statuses[status] += 1
                if status == 200:
                    assert body["version"] not in self.accepted[key], "one version twice"
                    self.accepted[key][body["version"]] = change["name"]
            assert status in (200, 409), body

    def race(self, senders: list[Send], attempts: int) -> None:
        self.line_up = threading.Barrier(len(senders))
        threads = [
            threading.Thread(target=self.writer, args=(send, f"writer {n}", attempts))
            for n, send in enumerate(senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a writer hangs"
        sent = len(senders) * attempts
        assert sum(self.statuses.values()) == sent, f"a writer failed: {self.statuses}"

    def assert_history_holds_every_accepted_change(self, send: Send, first_name: str) -> None:
        """Each workflow's numbered versions are exactly its first version plus every
        accepted change, each under the version it was answered with."""
        for key, accepted in self.accepted.items():
            history = _history(send, key)
            assert history == {1: first_name, **accepted}
            status, workflow = send("GET", f"/api/workflows/{key}", None, {})
            assert workflow["version"] == 1 + len(accepted)
            assert workflow["name"] == history[max(history)]

    def summary(self) -> dict:
        return {
            "requests_sent": 2 * sum(self.statuses.values()),  # a read before each change
            "changes_accepted": self.statuses[200],
            "changes_refused_409": self.statuses[409],
            "5xx_seen": sum(n for status, n in self.statuses.items() if status >= 500),
        }


def _history(send: Send, key: str) -> dict[int, str]:
    """Version number -> name, every page of it."""
    history: dict[int, str] = {}
    while True:
        path = f"/api/workflows/{key}/versions?limit=100&offset={len(history)}"
        status, page = send("GET", path, None, {})
        assert status == 200, page
        history.update((item["number"], item["name"]) for item in page["items"])
        if not page["items"] or len(history) >= page["total"]:
            return history
