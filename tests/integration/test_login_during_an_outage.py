"""Logging in while the database is down, in the modes where accounts are read from
memory (a private cluster, stopped for the test)."""

from __future__ import annotations

import pytest

from tests.apps import close_app
from tests.integration.test_faults import app_on, bed  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


@pytest.mark.parametrize("mode, read_from", [("memory-only", None), ("dual", "memory")])
def test_an_outage_does_not_tell_known_emails_from_unknown_ones(bed, tmp_path, mode, read_from):  # noqa: F811
    """A login with an email memory does not know looks for a CLI-made admin in the
    database first (before the back-off is even checked). While the database is down that
    answers 503 for an unknown email and 401 for a registered one: an anonymous attacker
    enumerates accounts for the length of any outage, uncounted by the back-off, from a
    service that otherwise serves these logins from memory."""
    app = app_on(bed, tmp_path, mode, read_from)
    client = app.test_client()
    try:
        registered = {"email": "known@example.com", "password": "correct horse"}
        assert client.post("/api/auth/register", json=registered).status_code == 201
        bed.cluster.stop()
        known = client.post("/api/auth/login", json={**registered, "password": "guess"})
        unknown = client.post(
            "/api/auth/login", json={"email": "nobody@example.com", "password": "guess"}
        )
        assert (unknown.status_code, unknown.get_json()) == (known.status_code, known.get_json())
    finally:
        bed.cluster.start()
        close_app(app)
