"""The export reader: strict about what it reads, lenient about layout, streaming."""

from __future__ import annotations

import io
import json

import pytest

from tests.factories import make_user, make_workflow
from wfplatform.backup import (
    ExportFormatError,
    InvalidRecord,
    decode_record,
    open_export,
    read_export,
)
from wfplatform.backup import reader as reader_module
from wfplatform.domain.codec import to_dict

HEADER = {
    "format": "wfplatform.export",
    "format_version": 1,
    "exported_at": "2025-01-02T03:04:05.000000+00:00",
    "schema_revision": "0004",
}


def document(repositories: dict | None = None, **header) -> str:
    """An export document (records sorted by key, as the writer orders them)."""
    owner = make_user()
    repositories = repositories or {
        "users": [to_dict(owner)],
        "workflows": [to_dict(make_workflow(owner, name="ünïcode ☃"))],
    }
    ordered = {name: sorted(items, key=lambda r: r["id"]) for name, items in repositories.items()}
    return json.dumps({**HEADER, **header, "repositories": ordered})


def read_all(text: str | bytes) -> list[tuple[str, dict]]:
    stream = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    return list(read_export(stream))


def test_any_json_layout_is_read_even_in_tiny_chunks(monkeypatch):
    text = document()
    expected = [
        (name, r) for name, items in json.loads(text)["repositories"].items() for r in items
    ]
    monkeypatch.setattr(reader_module, "CHUNK", 3)  # values cut at every possible place
    for layout in (text, json.dumps(json.loads(text), indent=4), text.replace(", ", ",")):
        assert read_all(layout) == expected
        assert read_all(("\ufeff" + layout).encode()) == expected  # UTF-8 bytes with a BOM


def test_the_header_is_validated_before_any_record():
    with open_export(io.StringIO(document())) as export:
        assert export.header.schema_revision == "0004"
        assert export.header.format_version == 1
        assert [name for name, _ in export] == ["users", "workflows"]


def test_records_are_yielded_before_the_document_is_read_to_its_end(monkeypatch):
    monkeypatch.setattr(reader_module, "CHUNK", 256)
    text = document({"users": [to_dict(make_user()) for _ in range(200)], "workflows": []})
    stream = io.StringIO(text)
    records = read_export(stream)
    next(records)
    assert stream.tell() < len(text) / 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "not a wfplatform export: the document must be a JSON object"),
        ('{"users": []}', "not a wfplatform export: unexpected member 'users'"),
        (document(format="something.else"), "not a wfplatform export: format is 'something"),
        (document(format_version=2), "export format version 2 is not supported"),
        (document(format_version="1"), "export format version '1' is not supported"),
        (document(format_version=True), "export format version True is not supported"),
        (document(exported_at="yesterday"), "exported_at must be an ISO 8601 timestamp"),
        (document(schema_revision=7), "schema_revision must be an Alembic revision id"),
        (document(comment="hi"), "not a wfplatform export: unexpected member 'comment'"),
        ('{"format": "wfplatform.export", "repositories": {}}', "lacks format_version, expo"),
        ('{"format": "wfplatform.export", "format": "x"', "duplicate header member 'format'"),
        ('{"format": "wfplatform.export", "format_version": 1}', "lacks exported_at"),
    ],
)
def test_a_document_that_is_not_a_readable_export_is_refused_clearly(text, message):
    with pytest.raises(ExportFormatError) as refused:
        read_all(text)
    assert message in refused.value.message
    assert refused.value.status == 422


def _body(repositories: str) -> str:
    return json.dumps(HEADER)[:-1] + f', "repositories": {repositories}}}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_body('{"gadgets": []}'), "unknown repository 'gadgets'"),
        (_body('{"workflows": [], "users": []}'), "'users' is out of order (parents come first)"),
        (_body('{"users": [], "users": []}'), "repository 'users' appears twice"),
        (_body('{"users": [{"id": "b"}, {"id": "a"}]}'), "users: ids out of key order"),
        (_body('{"users": [{"id": "a"}, {"id": "a"}]}'), "users: a duplicate id ('a' after"),
        (_body('{"users": [1]}'), "a record of users must be a JSON object"),
        (_body('{"users": [{"id": "a"}'), "expected ',' or the end of the list of users"),
        (_body('{"users": []}') + "[]", "unexpected content after the document"),
        (_body('{"users": [{"id": "a",}]}'), "invalid JSON"),
        (json.dumps(HEADER)[:-1] + ', "repositories": {}, "more": 1}', "must be the document's"),
        (document()[:-40], "line 1, column"),  # cut short: an export interrupted mid-way
    ],
)
def test_a_malformed_body_is_refused_with_where(text, message):
    with pytest.raises(ExportFormatError) as refused:
        read_all(text)
    assert message in refused.value.message


def test_a_document_that_is_not_utf8_is_refused():
    with pytest.raises(ExportFormatError, match="not UTF-8"):
        read_all(document().encode("utf-16"))


def test_decoding_reports_every_problem_of_a_record():
    data = to_dict(make_user())
    data.update(role="emperor", failed_logins=True, colour="blue")
    del data["password_hash"]
    with pytest.raises(InvalidRecord) as invalid:
        decode_record("users", data)
    assert invalid.value.problems == {
        "colour": "unknown field",
        "password_hash": "required",
        "failed_logins": "expected integer",
    }
    data = {**to_dict(make_user()), "role": "emperor"}
    with pytest.raises(InvalidRecord) as invalid:
        decode_record("users", data)
    assert invalid.value.problems == {"role": "one of user, admin"}


def test_a_record_without_an_id_is_invalid_rather_than_given_a_fresh_one():
    data = to_dict(make_user())
    del data["id"]
    with pytest.raises(InvalidRecord) as invalid:
        decode_record("users", data)
    assert invalid.value.problems == {"id": "required"}


def test_a_bad_timestamp_is_an_invalid_record():
    data = {**to_dict(make_user()), "created_at": "not a time"}
    with pytest.raises(InvalidRecord):
        decode_record("users", data)
