"""The export document: its identity, its header and the errors of reading one.

    {"format": "wfplatform.export", "format_version": 1, "exported_at": "<ISO 8601>",
     "schema_revision": "<alembic head>",
     "repositories": {"users": [{...}, ...], "workflows": [...], ...}}

The header members come first and `repositories` last, so a reader knows what it reads
before the first record; repositories appear parents first and records in key order, so
a restore can write parents before children and a consumer can merge-join a document
with a backend streamed in key order. Records are in the codec's normalised form
(`to_dict`), secrets as stored (password and API key hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ValidationFailed

FORMAT = "wfplatform.export"
FORMAT_VERSION = 1
HEADER_FIELDS = ("format", "format_version", "exported_at", "schema_revision")


class ExportFormatError(ValidationFailed):
    """The document is not a wfplatform export this version can read (422 over HTTP)."""

    code = "invalid_export"


@dataclass(frozen=True)
class ExportHeader:
    format_version: int
    exported_at: str
    schema_revision: str | None

    @classmethod
    def parse(cls, members: dict[str, Any]) -> ExportHeader:
        """Validate the header members strictly, identity and version first (so another
        JSON document is told it is not an export rather than what it lacks)."""
        if "format" not in members:
            raise ExportFormatError("not a wfplatform export: the header has no format member")
        for name in ("format", "format_version"):
            if name in members:
                check_identity(name, members[name])
        missing = [name for name in HEADER_FIELDS if name not in members]
        if missing:
            raise ExportFormatError(f"the export header lacks {', '.join(missing)}")
        exported_at = members["exported_at"]
        if not isinstance(exported_at, str) or not _is_timestamp(exported_at):
            raise ExportFormatError("exported_at must be an ISO 8601 timestamp")
        revision = members["schema_revision"]
        if revision is not None and not (isinstance(revision, str) and revision):
            raise ExportFormatError("schema_revision must be an Alembic revision id or null")
        return cls(members["format_version"], exported_at, revision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "exported_at": self.exported_at,
            "schema_revision": self.schema_revision,
        }


def check_identity(name: str, value: Any) -> None:
    """Refuse a document that is not an export, or an export of a version not read here."""
    if name == "format" and value != FORMAT:
        raise ExportFormatError(f"not a wfplatform export: format is {value!r}, not {FORMAT!r}")
    if name == "format_version" and (type(value) is not int or value != FORMAT_VERSION):
        raise ExportFormatError(
            f"export format version {value!r} is not supported; "
            f"this wfplatform reads version {FORMAT_VERSION}"
        )


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
