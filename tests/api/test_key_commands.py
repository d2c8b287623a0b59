"""`flask wf gen-key` and `flask wf verify-keys`, in every mode on SQLite and PostgreSQL:
verify opens every stored credential in every backend the mode keeps, writes nothing, names
what does not open (ids and reasons, never data), counts credentials per key, says which
keys may be removed, and exits 1 when anything failed."""

from __future__ import annotations

import dataclasses
import json

from tests.api.test_credentials import BODY, _store_everywhere, _stored
from tests.factories import KEY_RING
from wfplatform.bootstrap import get_storage
from wfplatform.services import key_rotation
from wfplatform.services.encryption import KeyRing, new_entry


def _verify(app):
    result = app.test_cli_runner().invoke(args=["wf", "verify-keys"])
    return result.exit_code, json.loads(result.stdout)


def _rotate(app, *options):
    result = app.test_cli_runner().invoke(args=["wf", "rotate-key", *options])
    return result.exit_code, json.loads(result.stdout)


def _with_ring(app, ring: str) -> None:
    """The app as it is after a restart with `ring`."""
    app.config["WF_ENCRYPTION_KEYS"] = ring
    app.extensions.pop("wf_services", None)


def _one_moved_seal(app, client, auth) -> dict:
    """Two credentials, the second holding the first's sealed value (it does not open):
    the second, as created."""
    good = client.post("/api/credentials", json=BODY, headers=auth).get_json()
    bad = client.post("/api/credentials", json=BODY, headers=auth).get_json()
    record = next(iter(_stored(app, bad["id"]).values()))
    donor = next(iter(_stored(app, good["id"]).values()))
    _store_everywhere(app, dataclasses.replace(record, sealed_data=donor.sealed_data))
    return bad


def _backends(app) -> set[str]:
    mode = get_storage(app).mode("credentials")
    return {backend for backend in (mode.primary, mode.secondary) if backend}


def test_verify_opens_every_credential_in_every_backend_and_writes_nothing(app, client, auth):
    ids = [
        client.post("/api/credentials", json=BODY, headers=auth).get_json()["id"] for _ in range(3)
    ]
    before = {i: _stored(app, i) for i in ids}
    code, report = _verify(app)
    assert code == 0 and report["failed"] == 0
    assert set(report["backends"]) == _backends(app)
    for backend in report["backends"].values():
        assert (backend["scanned"], backend["opened"]) == (3, 3)
        assert backend["by_key"] == {"test-key-1": 3}
    assert report["keys"] == {"test-key-1": {"newest": True, "credentials": 3, "removable": False}}
    assert {i: _stored(app, i) for i in ids} == before


def test_verify_names_what_does_not_open_and_exits_1(app, client, auth):
    bad = _one_moved_seal(app, client, auth)
    code, report = _verify(app)
    assert code == 1 and report["failed"] == len(_backends(app))
    for backend in report["backends"].values():
        (failure,) = backend["failures"]
        assert failure["id"] == bad["id"]
        assert "belongs to another record" in failure["reason"]
    assert "xoxb" not in json.dumps(report)


def test_an_old_key_is_removable_once_no_credential_uses_it(app, client, auth):
    client.post("/api/credentials", json=BODY, headers=auth)
    newer = new_entry("newer")
    _with_ring(app, f"{newer},{KEY_RING}")
    code, report = _verify(app)
    assert code == 0
    assert report["keys"]["newer"] == {"newest": True, "credentials": 0, "removable": False}
    assert report["keys"]["test-key-1"]["removable"] is False  # still seals one
    assert KeyRing.parse(app.config["WF_ENCRYPTION_KEYS"]).newest == "newer"


def test_gen_key_prints_one_usable_entry(app):
    result = app.test_cli_runner().invoke(args=["wf", "gen-key", "--id", "k1"])
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert KeyRing.parse(line).ids == ("k1",)
    refused = app.test_cli_runner().invoke(args=["wf", "gen-key", "--id", "bad id"])
    assert refused.exit_code == 2


def test_rotation_seals_every_credential_with_the_newest_key_and_frees_the_old_one(
    app, client, auth
):
    ids = [
        client.post("/api/credentials", json=BODY, headers=auth).get_json()["id"] for _ in range(3)
    ]
    newer = new_entry("newer")
    _with_ring(app, f"{newer},{KEY_RING}")
    code, dry = _rotate(app, "--dry-run")
    assert code == 0 and (dry["resealed"], dry["current"]) == (3, 0)
    assert {
        record.sealed_data.split(":")[2] for i in ids for record in _stored(app, i).values()
    } == {"test-key-1"}  # a dry run writes nothing

    code, report = _rotate(app, "--batch-size", "2")
    assert code == 0
    assert (report["scanned"], report["resealed"], report["failed"]) == (3, 3, 0)
    for backend in _backends(app):
        assert report["backends"][backend] == {
            "before": {"test-key-1": 3},
            "after": {"newer": 3},
        }
    assert report["keys"]["test-key-1"]["removable"] is True
    _with_ring(app, newer)  # the old key retired: everything still opens
    for credential_id in ids:
        revealed = client.get(f"/api/credentials/{credential_id}?reveal=true", headers=auth)
        assert revealed.get_json()["data"] == BODY["data"]
    assert _verify(app)[0] == 0
    code, again = _rotate(app)  # a second run finds nothing to do
    assert (again["resealed"], again["current"]) == (0, 3)


def test_rotation_reports_what_does_not_open_and_exits_1(app, client, auth):
    bad = _one_moved_seal(app, client, auth)
    _with_ring(app, f"{new_entry('newer')},{KEY_RING}")
    code, report = _rotate(app)
    assert code == 1
    assert (report["resealed"], report["failed"]) == (1, 1)
    assert report["failures"][0]["id"] == bad["id"]
    assert report["keys"]["test-key-1"]["removable"] is False
    assert "xoxb" not in json.dumps(report)


def test_an_edit_made_during_a_rotation_is_kept(app, client, auth, monkeypatch):
    created = client.post("/api/credentials", json=BODY, headers=auth).get_json()
    path = f"/api/credentials/{created['id']}"
    scanned = key_rotation._batches

    def edited_after_the_scan(credentials, size):
        for batch in scanned(credentials, size):
            assert (
                client.patch(path, json={"name": "edited meanwhile"}, headers=auth).status_code
                == 200
            )
            yield batch

    monkeypatch.setattr(key_rotation, "_batches", edited_after_the_scan)
    _with_ring(app, f"{new_entry('newer')},{KEY_RING}")
    code, report = _rotate(app)
    assert code == 0 and report["resealed"] == 1
    after = client.get(f"{path}?reveal=true", headers=auth).get_json()
    assert (after["name"], after["data"], after["version"]) == ("edited meanwhile", BODY["data"], 3)
