"""Every adapter operation is one OpenTelemetry span, named `repository.operation`, saying
how it was served; no argument or result (so no secret) ever reaches a span."""

from __future__ import annotations

import dataclasses
import traceback

import pytest
import sqlalchemy as sa
from opentelemetry.trace import StatusCode

from tests.conftest import build_storage
from tests.factories import make_user
from wfplatform.backends.sql import ENGINE_OPTIONS
from wfplatform.errors import Conflict, StorageUnavailable
from wfplatform.storage.modes import DATABASE, MEMORY


def spans_named(exporter, name: str) -> list:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_one_span_per_operation_with_mode_and_backends(make_storage, spans):
    storage = make_storage("dual", read_from=MEMORY)
    user = storage.users.add(make_user())
    storage.users.get(user.id)

    (write,) = spans_named(spans, "users.add")
    assert write.attributes["wf.storage.mode"] == "dual"
    assert write.attributes["wf.storage.read_from"] == MEMORY
    assert write.attributes["wf.storage.backends"] == (MEMORY,)
    assert write.attributes["wf.storage.fallback"] is False
    (commit,) = spans_named(spans, "unit_of_work.commit")
    assert commit.attributes["wf.storage.repositories"] == ("users",)
    assert commit.attributes["wf.storage.journaled"] is False
    assert write.parent.span_id == commit.context.span_id
    (read,) = spans_named(spans, "users.get")
    assert read.attributes["wf.storage.backends"] == (MEMORY,)


def test_a_fallback_read_says_so(make_storage, spans):
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user())
    storage.parts.health.mark_down("connection refused")  # as after a failed database call
    assert storage.users.get(user.id) == user
    (read,) = spans_named(spans, "users.get")
    assert read.attributes["wf.storage.backends"] == (MEMORY,)
    assert read.attributes["wf.storage.fallback"] is True
    assert storage.parts.stats.snapshot("users")["backends"][DATABASE]["fallbacks"] == 1


def test_domain_errors_are_answers_not_span_errors(make_storage, spans):
    storage = make_storage("database-only")
    storage.users.add(make_user(email="dup@example.com"))
    try:
        storage.users.add(make_user(email="dup@example.com"))
    except Conflict:
        pass
    failed = spans_named(spans, "users.add")[-1]
    assert failed.attributes["wf.error.code"] == "conflict"
    assert failed.status.status_code is not StatusCode.ERROR
    assert storage.parts.stats.snapshot("users")["backends"][DATABASE]["errors"] == 0


def test_no_secret_reaches_a_span(make_storage, spans):
    storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
    secret = "argon2-secret-hash-do-not-log"
    user = storage.users.add(make_user(password_hash=secret))
    storage.users.update(dataclasses.replace(user, password_hash=secret + "-2"))
    storage.users.get(user.id)
    storage.parts.shadow.drain()
    for span in spans.get_finished_spans():
        text = repr(dict(span.attributes)) + repr([e.attributes for e in span.events])
        assert secret not in text


def time_out_inserting(database_url, engine, tmp_path, user, **engine_options):
    """Add `user` while another session locks the table: PostgreSQL's lock_timeout turns
    the wait into a database fault. Returns the `StorageUnavailable` raised."""
    if engine.dialect.name != "postgresql":
        pytest.skip("makes a write time out with PostgreSQL's lock_timeout")
    options = {"connect_args": {"options": "-c lock_timeout=200"}, **engine_options}
    timing_out = sa.create_engine(database_url, **options)
    storage = build_storage(timing_out, tmp_path / "journal.log", "database-only")
    blocker = engine.connect()
    try:
        with blocker.begin():
            blocker.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(StorageUnavailable) as fault:
                storage.users.add(user)
    finally:
        blocker.close()
        storage.close()
        timing_out.dispose()
    return fault.value


def test_a_database_fault_puts_no_secret_on_a_span(database_url, engine, tmp_path, spans):
    """The fault is on the spans, the driver's error (with the SQL and its parameters) is
    not: not even from an engine that would show the parameters."""
    secret = "argon2-secret-hash-do-not-log"
    fault = time_out_inserting(database_url, engine, tmp_path, make_user(password_hash=secret))

    assert secret not in str(fault)
    for name in ("users.add", "unit_of_work.commit"):
        (span,) = spans_named(spans, name)
        assert span.status.status_code is StatusCode.ERROR
        (event,) = span.events
        assert event.attributes["exception.type"].endswith("StorageUnavailable")
    for span in spans.get_finished_spans():
        text = repr(dict(span.attributes)) + repr([dict(e.attributes) for e in span.events])
        assert secret not in text


def test_a_database_fault_shows_no_sql_parameters_even_in_its_traceback(
    database_url, engine, tmp_path
):
    """What a `log.exception` would write: the fault and the driver's error it was raised
    from, SQL included, from an engine configured as the application configures it."""
    secret = "argon2-secret-hash-do-not-log"
    user = make_user(password_hash=secret)
    fault = time_out_inserting(database_url, engine, tmp_path, user, **ENGINE_OPTIONS)

    written = "".join(traceback.format_exception(fault))
    assert "INSERT INTO users" in written
    assert secret not in written
