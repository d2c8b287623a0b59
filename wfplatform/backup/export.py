"""Write every repository into one export document, record by record.

The document is produced as a sequence of small strings (one per record, in the
`to_dict` form), so neither a file nor an HTTP response ever holds the whole store: every
repository is read as of one moment (`Storage.snapshot`), memory from a frozen key map,
the database through a server-side cursor. A document cut short (a fault mid-way) lacks
its closing brackets and is refused by the reader, so a partial export is never mistaken
for a complete one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from ..domain.codec import comparable, utcnow
from ..services.audit import AuditLog
from ..services.context import Actor
from .format import FORMAT_VERSION, ExportHeader

if TYPE_CHECKING:
    from ..storage.adapter import Storage

BATCH_SIZE = 500


def export_chunks(
    storage: Storage,
    schema_revision: str | None,
    *,
    counts: dict[str, int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[str]:
    """The document as consecutive strings: the header, then each repository (parents
    first) with one record per line. `counts`, when given, is filled per repository."""
    counts = {} if counts is None else counts
    exported_at = utcnow().isoformat(timespec="microseconds")
    header = ExportHeader(FORMAT_VERSION, exported_at, schema_revision).to_dict()
    yield "{" + ",\n ".join(f"{_json(name)}: {_json(value)}" for name, value in header.items())
    yield ',\n "repositories": {'
    with storage.snapshot() as records:
        for position, name in enumerate(storage.repository_names):
            yield ("\n  " if position == 0 else ",\n  ") + f"{_json(name)}: ["
            counts[name] = 0
            for record in records(name, batch_size):
                yield ("\n   " if counts[name] == 0 else ",\n   ") + _json(comparable(record))
                counts[name] += 1
            yield "\n  ]" if counts[name] else "]"
    yield "\n }\n}\n"


def write_export(storage: Storage, stream: TextIO, schema_revision: str | None) -> dict[str, int]:
    """Write the document to a text stream as it is produced; returns counts per repository."""
    counts: dict[str, int] = {}
    for chunk in export_chunks(storage, schema_revision, counts=counts):
        stream.write(chunk)
    return counts


def buffered(chunks: Iterator[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """UTF-8 bytes in pieces of about `size` (an HTTP response should not send a packet per
    record)."""
    pending: list[str] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield "".join(pending).encode()
            pending, length = [], 0
    if pending:
        yield "".join(pending).encode()


def _json(value: object) -> str:
    """ASCII JSON: every other character as an escape. A record stored before lone
    surrogates were refused (UTF-8 cannot encode one) is then exported as it is, for the
    import to report, instead of failing the whole export."""
    return json.dumps(value)


def record_export(storage: Storage, actor: Actor, via: str) -> None:
    """An export carries every password and API key hash: who took one is audited."""
    changes = {"via": via}
    AuditLog(storage).record(actor, "storage.export", "storage", None, changes)
