"""Backup and restore: a versioned JSON export of every repository, its streaming reader,
a restore through the adapter's write path, and an integrity check.

Public entry points (none of them imports Flask):

- `export_chunks(storage, revision)` / `write_export(storage, stream, revision)`
- `read_export(path_or_stream)` -> (repository, record's JSON form), parents first, in key
  order; `open_export(...)` gives the validated `header` first; `decode_record(name, data)`
  turns a record's JSON form into its domain record or raises `InvalidRecord`
- `import_export(storage, path_or_stream, dry_run=..., force=...)`
- `check_integrity(storage, fix=...)`
"""

from .export import export_chunks, write_export
from .format import FORMAT, FORMAT_VERSION, ExportFormatError, ExportHeader
from .importer import ImportRefused, import_export
from .integrity import check_integrity
from .reader import ExportReader, open_export, read_export
from .records import InvalidRecord, decode_record

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ExportFormatError",
    "ExportHeader",
    "ExportReader",
    "ImportRefused",
    "InvalidRecord",
    "check_integrity",
    "decode_record",
    "export_chunks",
    "import_export",
    "open_export",
    "read_export",
    "write_export",
]
