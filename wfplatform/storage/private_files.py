"""Files for the service's own user only: the instance folder, the SQLite database, the
signing key, the sync journal and exports hold password and key hashes, the signing
secret and every record. They are created owner-only whatever the umask. A file written
through `owner_only` (the journal, exports) is made owner-only even when an earlier run
left it readable; an existing instance folder or database keeps its mode (an operator may
have chosen it)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def owner_only(path: str | os.PathLike, flags: int) -> int:
    """For `open(path, mode, opener=owner_only)`: the file is owner-only."""
    descriptor = os.open(path, flags, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


def make_folder(path: str | os.PathLike) -> None:
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)


def create_sqlite_database(url: str) -> None:
    """SQLite creates its file 0644, and its WAL files with the database's mode: an
    owner-only empty file made first (an empty file is an empty database) keeps all of
    them private."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if path.startswith("file:") or not Path(path).parent.is_dir():
        return  # a URI filename, or a folder SQLite will refuse anyway: left to SQLite
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
