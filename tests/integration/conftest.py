"""`storage`: the test's storage in each of the four steps of the cut-over in turn (on
the database the `engine` fixture gives: SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.api.conftest import MODES
from wfplatform.storage.adapter import Storage


@pytest.fixture(params=MODES)
def storage(request, make_storage) -> Storage:
    mode, read_from = request.param
    return make_storage(mode, read_from=read_from)
