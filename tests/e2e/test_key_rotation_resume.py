"""A key rotation killed with SIGKILL half-way resumes when run again, and ends as an
uninterrupted rotation ends: every credential sealed once with the new key, its data and
everything else as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import databases
from tests.conftest import build_storage, require_postgres
from tests.factories import KEY_RING, make_credential, make_user
from wfplatform.extensions import db
from wfplatform.services.encryption import KeyRing, new_entry

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
COUNT = 300


def rotate(url: str, tmp_path: Path, ring: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WF_STORAGE_MODE": "database-only",
        "WF_ENCRYPTION_KEYS": ring,
        "WF_JOURNAL_PATH": str(tmp_path / "cli.log"),
        "WF_SECRET_KEY": "rotation test",
        "WF_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "flask", "--app", "wfplatform", "wf", "rotate-key",
               "--batch-size", "10"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def sealed_with(engine, key_id: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            sa.text("SELECT count(*) FROM credentials WHERE sealed_data LIKE :prefix"),
            {"prefix": f"wfenc:v1:{key_id}:%"},
        )


def test_a_rotation_killed_half_way_resumes_to_the_end_an_uninterrupted_one_reaches(tmp_path):
    require_postgres()
    with ExitStack() as stack:
        url = stack.enter_context(databases.temporary_postgres_database())
        engine = databases.create_engine(url)
        stack.callback(engine.dispose)
        db.metadata.create_all(engine)
        databases.stamp_head(engine)
        storage = build_storage(engine, tmp_path / "seed.log", "database-only")
        owner = storage.users.add(make_user())
        made = {
            c.id: c for c in (storage.credentials.add(make_credential(owner)) for _ in range(COUNT))
        }
        storage.close()
        newer = new_entry("newer")
        ring = f"{newer},{KEY_RING}"

        first = rotate(url, tmp_path, ring)
        deadline = time.monotonic() + 60
        while sealed_with(engine, "newer") < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        done = sealed_with(engine, "newer")
        assert 0 < done < COUNT, "the kill did not fall half-way"

        second = rotate(url, tmp_path, ring)
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output
        report = json.loads(output)
        assert report["resealed"] + report["current"] == COUNT
        assert report["current"] >= done and report["failed"] == 0

        storage = build_storage(engine, tmp_path / "check.log", "database-only")
        opened = KeyRing.parse(newer)  # the old key is no longer needed
        for credential_id, before in made.items():
            after = storage.credentials.get(credential_id)
            assert after.sealed_data.startswith("wfenc:v1:newer:")
            assert after.version == before.version + 1  # sealed again once, not twice
            assert (after.name, after.user_id, after.created_at) == (
                before.name, before.user_id, before.created_at
            )  # fmt: skip
            assert opened.open(after.sealed_data, after.sealing_context()) == KeyRing.parse(
                KEY_RING
            ).open(before.sealed_data, before.sealing_context())
        storage.close()
