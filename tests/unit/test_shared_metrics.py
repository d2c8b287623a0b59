"""A scrape in multiprocess mode while another worker is creating its file."""

from __future__ import annotations

from wfplatform.observability import multiprocess


def test_a_scrape_ignores_a_worker_file_not_sized_yet(tmp_path, monkeypatch):
    monkeypatch.setenv(multiprocess.DIRECTORY, str(tmp_path))
    (tmp_path / "counter_12345.db").write_bytes(b"")  # created, not yet sized

    assert isinstance(multiprocess.exposition(), bytes)
