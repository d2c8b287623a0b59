"""Settings from the environment."""

from __future__ import annotations

import logging

from flask import Flask

from wfplatform import config


def test_a_retired_setting_still_set_is_named_in_the_log_with_its_successor(
    monkeypatch, tmp_path, caplog
):
    """An operator upgrading with `WF_LOGIN_LOCK_SECONDS` in the environment must learn that
    it no longer does anything, not find out from an attack."""
    monkeypatch.setenv("WF_LOGIN_LOCK_SECONDS", "600")
    app = Flask(__name__, instance_path=str(tmp_path))
    app.testing = True

    with caplog.at_level(logging.WARNING):
        config.load(app)

    assert "WF_LOGIN_LOCK_SECONDS" in caplog.text
    assert "WF_LOGIN_BACKOFF_SECONDS" in caplog.text
