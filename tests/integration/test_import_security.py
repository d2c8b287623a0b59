"""An import never rolls security state back: a stale export restores neither an older
password hash nor an active copy of a key revoked since, nor an account deactivated since;
the report and the audit trail name every user and key an import creates or changes
(ids and emails, roles by name, never a hash)."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from tests.factories import make_api_key, make_user
from tests.integration.test_backup import MODES, document, export_text
from wfplatform.backup import import_export
from wfplatform.domain.codec import utcnow
from wfplatform.repositories.audit import AuditQuery


def audit_entries(storage, action: str) -> list:
    return storage.audit_logs.list(AuditQuery(action=action, limit=100)).items


@pytest.mark.parametrize(("mode", "read_from"), MODES)
def test_a_stale_export_revives_neither_a_password_nor_a_revoked_key(make_storage, mode, read_from):
    storage = make_storage(mode, read_from=read_from)
    user = storage.users.add(make_user(password_hash="$argon2id$old-hash"))
    key = storage.api_keys.add(make_api_key(user))
    stale = export_text(storage)
    changed = storage.users.update(
        dataclasses.replace(user, password_hash="$argon2id$new-hash", is_active=False)
    )
    storage.api_keys.update(dataclasses.replace(key, revoked_at=utcnow()))

    dry = import_export(storage, io.StringIO(stale), dry_run=True)
    report = import_export(storage, io.StringIO(stale))

    for result in (dry, report):
        kept = result["security_kept"]
        assert kept["users"] == [
            {"id": user.id, "email": user.email, "fields": ["password_hash", "is_active"]}
        ]
        assert kept["api_keys"] == [
            {"id": key.id, "user_id": user.id, "name": key.name, "fields": ["revoked_at"]}
        ]
    now = storage.users.get(user.id)
    assert (now.password_hash, now.is_active) == (changed.password_hash, False)
    assert storage.api_keys.get(key.id).revoked_at is not None
    (entry,) = audit_entries(storage, "user.import")
    assert entry.resource_id == user.id
    assert entry.changes["email"] == user.email
    assert entry.changes["security_kept"] == ["password_hash", "is_active"]
    (key_entry,) = audit_entries(storage, "api_key.import")
    assert (key_entry.resource_id, key_entry.changes["security_kept"]) == (key.id, ["revoked_at"])
    trail = json.dumps([e.changes for e in storage.audit_logs.list(AuditQuery(limit=100)).items])
    assert "hash" not in trail.replace('"password_hash"', "").replace('"key_hash"', "")
    assert key.key_hash not in trail
    if mode == "dual":
        assert storage.verify()["differences"] == 0


def test_the_audit_names_created_users_and_keys_and_an_import_never_promotes(make_storage):
    """An export saying `admin` for an account that holds live keys and tokens would hand
    them the admin role: the target's role stays, and the audit says so."""
    storage = make_storage("memory-only")
    kept = storage.users.add(make_user(role="user"))
    newcomer = make_user(role="admin")
    newcomer_key = make_api_key(newcomer)
    source = document(
        users=[dataclasses.replace(kept, role="admin"), newcomer], api_keys=[newcomer_key]
    )

    import_export(storage, source)

    assert storage.users.get(kept.id).role == "user"
    assert storage.users.get(newcomer.id).role == "admin"  # a restore brings admins back
    entries = {entry.resource_id: entry.changes for entry in audit_entries(storage, "user.import")}
    assert entries[kept.id]["security_kept"] == ["role"]
    assert entries[newcomer.id]["outcome"] == "inserted"
    assert entries[newcomer.id]["email"] == newcomer.email
    (key_entry,) = audit_entries(storage, "api_key.import")
    assert key_entry.resource_id == newcomer_key.id
    assert key_entry.changes["user_id"] == newcomer.id
    assert key_entry.changes["outcome"] == "inserted"
    summary = audit_entries(storage, "storage.import")[0].changes
    assert summary["security_kept"] == {"users": 1, "api_keys": 0}


def test_importing_the_same_document_again_audits_nothing_more(make_storage):
    storage = make_storage("memory-only")
    source = document(users=[make_user()]).getvalue()
    import_export(storage, io.StringIO(source))
    import_export(storage, io.StringIO(source))
    assert len(audit_entries(storage, "user.import")) == 1
