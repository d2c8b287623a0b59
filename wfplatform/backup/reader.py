"""Read an export document as a stream: the header first (validated strictly), then one
record at a time, holding at most one record and a read-ahead chunk in memory.

The standard library has no streaming JSON parser, and the document's shape is fixed, so
this walks the envelope's punctuation itself and decodes each header value and each record
with `json.JSONDecoder.raw_decode`. Any valid JSON layout of the document is read, not only
the one-record-per-line layout the writer produces.

    for repository, data in read_export("backup.json"):   # data: the record's JSON form
        record = decode_record(repository, data)          # may raise InvalidRecord

    with open_export(stream) as document:                 # the header before any record
        print(document.header.schema_revision)
        for repository, data in document: ...
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from ..repositories import NAMES
from .format import HEADER_FIELDS, ExportFormatError, ExportHeader, check_identity

Source = str | os.PathLike | IO[str] | IO[bytes]
CHUNK = 64 * 1024
MAX_VALUE = 64 * 1024 * 1024  # characters: one record (or header value) at most
_NOT_SPACE = re.compile(r"[^ \t\n\r]")
_DECODER = json.JSONDecoder()
_NEAR_END = 8  # a decode error this close to the buffer's end may be a value cut short


def read_export(source: Source) -> Iterator[tuple[str, dict[str, Any]]]:
    """(repository, record's JSON form) for every record, parents first, in key order.
    `source` is a path or an open text or binary stream (left open). A document that is not
    a readable export raises `ExportFormatError`, at the first `next()` for the header."""
    with open_export(source) as document:
        yield from document


@contextmanager
def open_export(source: Source) -> Iterator[ExportReader]:
    """An `ExportReader` whose header is already validated; a path is opened and closed."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield ExportReader(stream)
    else:
        yield ExportReader(source)


class ExportReader:
    """One pass over a document: `header`, then iterate (once) for (repository, record)."""

    def __init__(self, stream: IO[str] | IO[bytes], names: Sequence[str] = NAMES) -> None:
        self._tokens = _Tokens(stream)
        self._names = list(names)
        self._consumed = False
        self.header = self._read_header()

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self._consumed:
            raise RuntimeError("an export document is read once; open it again")
        self._consumed = True
        tokens = self._tokens
        tokens.take("{", "the repositories object")
        position = -1
        for name in self._members(tokens, "repositories"):
            if name not in self._names:
                raise tokens.error(f"unknown repository {name!r}")
            if self._names.index(name) == position:
                raise tokens.error(f"repository {name!r} appears twice")
            if self._names.index(name) < position:
                raise tokens.error(f"repository {name!r} is out of order (parents come first)")
            position = self._names.index(name)
            yield from ((name, data) for data in self._records(name))
        if tokens.peek() == ",":
            raise tokens.error("repositories must be the document's last member")
        tokens.take("}", "the end of the document")
        if tokens.peek() != "":
            raise tokens.error("unexpected content after the document")

    def _read_header(self) -> ExportHeader:
        tokens = self._tokens
        if tokens.peek() != "{":
            raise tokens.error("not a wfplatform export: the document must be a JSON object")
        tokens.take("{", "the document")
        members: dict[str, Any] = {}
        for name in self._members(tokens, "header"):
            if name == "repositories":
                return ExportHeader.parse(members)
            if name not in HEADER_FIELDS:
                raise tokens.error(f"not a wfplatform export: unexpected member {name!r}")
            if name in members:
                raise tokens.error(f"duplicate header member {name!r}")
            members[name] = tokens.value()
            check_identity(name, members[name])  # before reading on: is this an export?
        ExportHeader.parse(members)  # says what the header lacks
        raise tokens.error("the document has no repositories member")

    def _records(self, name: str) -> Iterator[dict[str, Any]]:
        tokens = self._tokens
        tokens.take("[", f"the list of {name}")
        previous: str | None = None
        if tokens.peek() == "]":
            tokens.take("]", "]")
            return
        while True:
            data = tokens.value()
            if not isinstance(data, dict):
                raise tokens.error(f"a record of {name} must be a JSON object")
            key = data.get("id")
            if isinstance(key, str):
                if previous is not None and key <= previous:
                    order = "a duplicate id" if key == previous else "ids out of key order"
                    raise tokens.error(f"{name}: {order} ({key!r} after {previous!r})")
                previous = key
            yield data
            if tokens.peek() != ",":
                tokens.take("]", f"',' or the end of the list of {name}")
                return
            tokens.take(",", ",")

    @staticmethod
    def _members(tokens: _Tokens, what: str) -> Iterator[str]:
        """The member names of the object just opened; the caller reads each value."""
        if tokens.peek() == "}":
            tokens.take("}", "}")
            return
        while True:
            if tokens.peek() != '"':
                raise tokens.error(f"expected a member name in the {what}")
            name = tokens.value()
            tokens.take(":", "':'")
            yield name
            if tokens.peek() != ",":
                tokens.take("}", f"',' or the end of the {what}")
                return
            tokens.take(",", ",")


class _Tokens:
    """A text or binary (UTF-8) stream read one punctuation mark or JSON value at a time."""

    def __init__(self, stream: IO[str] | IO[bytes]) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._buffer = ""
        self._pos = 0
        self._line = 1  # the line the buffer starts on
        self._eof = False
        self._started = False

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end), not consumed."""
        while True:
            match = _NOT_SPACE.search(self._buffer, self._pos)
            if match is not None:
                self._pos = match.start()
                return self._buffer[self._pos]
            self._pos = len(self._buffer)
            if not self._read_more():
                return ""

    def take(self, expected: str, what: str) -> None:
        found = self.peek()
        if found != expected:
            raise self.error(f"expected {what}, found {_describe(found)}")
        self._pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                if self._may_be_cut_short(exc) and self._read_more():
                    continue
                raise self.error(f"invalid JSON ({exc.msg})", exc.pos) from None
            except RecursionError:
                raise self.error("a value nests too deeply to be read") from None
            except ValueError as exc:  # an integer too long to convert, say
                raise self.error(f"a value cannot be read ({exc})") from None
            # a number (or literal) that ends with the buffer may go on in the next chunk
            if end == len(self._buffer) and self._read_more():
                continue
            self._pos = end
            return value

    def error(self, message: str, at: int | None = None) -> ExportFormatError:
        at = self._pos if at is None else at
        line = self._line + self._buffer.count("\n", 0, at)
        column = at - (self._buffer.rfind("\n", 0, at) + 1) + 1
        return ExportFormatError(f"{message} (line {line}, column {column})")

    def _may_be_cut_short(self, exc: json.JSONDecodeError) -> bool:
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buffer) - _NEAR_END

    def _read_more(self) -> bool:
        """Append the next chunk (more for a long value); False at the end of the stream."""
        if self._eof:
            return False
        pending = len(self._buffer) - self._pos
        if pending > MAX_VALUE:
            raise self.error(f"a value longer than {MAX_VALUE} characters")
        data = self._stream.read(max(CHUNK, pending))
        self._eof = not data
        text = self._decode(data)
        self._line += self._buffer.count("\n", 0, self._pos)
        self._buffer = self._buffer[self._pos :] + text
        self._pos = 0
        return not self._eof

    def _decode(self, data: str | bytes) -> str:
        if isinstance(data, str):
            if not self._started and data.startswith("\ufeff"):
                data = data[1:]
            self._started = True
            return data
        try:
            return self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise ExportFormatError("the document is not UTF-8 text") from None


def _describe(char: str) -> str:
    return "the end of the document" if char == "" else repr(char)
