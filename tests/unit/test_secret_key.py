"""The signing key: explicit wins; otherwise one generated key, shared by every process."""

from __future__ import annotations

import logging
import stat

from wfplatform.config import secret_key


def test_an_explicit_key_wins(tmp_path):
    assert secret_key(str(tmp_path), "configured", production=True) == "configured"
    assert not (tmp_path / "secret_key").exists()


def test_a_generated_key_is_kept_private_and_reused(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        first = secret_key(str(tmp_path), None, production=True)
    assert "WF_SECRET_KEY is not set" in caplog.text
    assert len(first) >= 32
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert secret_key(str(tmp_path), None, production=False) == first
    assert list(tmp_path.iterdir()) == [tmp_path / "secret_key"]
