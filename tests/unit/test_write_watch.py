"""The write tracker's watches: which records were written while a switch compared."""

from __future__ import annotations

from contextlib import ExitStack

from wfplatform.storage.locks import WriteTracker


def test_a_watch_hears_of_writes_to_its_repositories_only():
    tracker = WriteTracker()
    with tracker.watching(["users"], limit=10) as watch:
        with tracker.writing([("users", "a"), ("workflows", "w")]):
            pass
        with tracker.copying([("users", "b")]):
            pass
        assert watch.take("users") == {"a", "b"}
        assert watch.take("users") == set()  # taken: watching on afresh


def test_a_watch_hears_of_a_write_under_way_when_it_began():
    tracker = WriteTracker()
    with ExitStack() as write:
        write.enter_context(tracker.writing([("users", "a")]))
        with tracker.watching(["users"], limit=10) as watch:
            assert watch.pending("users") == 0
            write.close()  # the write ends while the watch is open
            assert watch.take("users") == {"a"}


def test_a_watch_gives_up_past_its_limit_until_restarted():
    tracker = WriteTracker()
    with tracker.watching(["users"], limit=2) as watch:
        with tracker.writing([("users", key) for key in "abc"]):
            pass
        assert watch.pending("users") is None
        assert watch.take("users") is None
        assert watch.take("users") is None  # given up stays given up
        watch.restart("users")
        with tracker.writing([("users", "d")]):
            pass
        assert watch.take("users") == {"d"}


def test_copies_leave_the_shadow_reads_tokens_alone():
    tracker = WriteTracker()
    token = tracker.token("users", "a")
    with tracker.copying([("users", "a")]):
        assert tracker.token("users", "a") == token
    assert tracker.unchanged_since("users", token, "a")
