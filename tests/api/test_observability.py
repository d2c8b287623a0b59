"""Traces, metrics and logs over HTTP: what an operator sees, and that no secret is in it."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import login, make_admin, register
from wfplatform.bootstrap import get_storage, services

ONE_MODE = pytest.mark.parametrize("app", [("dual", "database")], indirect=True)
METRIC_NAME = re.compile(r"wf_[a-z0-9_]+")


def scrape(client, headers=None) -> dict:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family for family in families}


def samples(families: dict, name: str, **labels) -> list:
    return [
        sample
        for family in families.values()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_metrics_parse_and_follow_the_naming_conventions(app, client, auth):
    created = client.post("/api/workflows", json={"name": "w"}, headers=auth).get_json()
    client.get(f"/api/workflows/{created['id']}", headers=auth)
    families = scrape(client)
    for name, family in families.items():
        assert METRIC_NAME.fullmatch(name), name
        assert family.documentation, name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
    reads = samples(families, "wf_storage_operations_total", repository="users", kind="read")
    assert sum(sample.value for sample in reads) > 0
    storage_buckets = samples(families, "wf_storage_operation_duration_seconds_bucket")
    assert any(s.labels["le"] == "+Inf" and s.value > 0 for s in storage_buckets)
    assert samples(families, "wf_storage_journal_entries")[0].value == 0
    assert {s.labels["mode"] for s in samples(families, "wf_storage_mode")} == {
        get_storage(app).parts.modes.get("users").mode.value
    }


@ONE_MODE
def test_http_metrics_are_keyed_by_the_url_rule_and_status(client, auth):
    created = client.post("/api/workflows", json={"name": "w"}, headers=auth).get_json()
    client.get(f"/api/workflows/{created['id']}", headers=auth)
    client.get(f"/api/workflows/{uuid.uuid4()}", headers=auth)
    client.get("/no/such/path")
    families = scrape(client)
    routes = {s.labels["route"] for s in samples(families, "wf_http_requests_total")}
    assert "/api/workflows/<uuid:workflow_id>" in routes
    assert not any(created["id"] in route for route in routes)
    found = samples(
        families, "wf_http_requests_total", route="/api/workflows/<uuid:workflow_id>", status="200"
    )
    missing = samples(
        families, "wf_http_requests_total", route="/api/workflows/<uuid:workflow_id>", status="404"
    )
    assert found[0].value == 1 and missing[0].value == 1
    assert samples(families, "wf_http_requests_total", route="unmatched", status="404")
    timed = samples(
        families, "wf_http_request_duration_seconds_count", route="/api/auth/login", method="POST"
    )
    assert timed[0].value == 1


@ONE_MODE
def test_metrics_can_require_a_bearer_token(app, client):
    app.config["WF_METRICS_TOKEN"] = "scrape-token"  # WF_METRICS_TOKEN in the environment
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    scrape(client, {"Authorization": "Bearer scrape-token"})


@ONE_MODE
def test_a_non_ascii_metrics_bearer_is_a_401_in_the_error_shape(app, client):
    app.config["WF_METRICS_TOKEN"] = "scrape-token"
    # On the wire a client sends UTF-8; the server reads header bytes as Latin-1.
    for given in ("Bearer é", "Bearer " + "☃".encode().decode("latin-1"), "Bearer ☃"):
        response = client.get("/metrics", headers={"Authorization": given})
        assert response.status_code == 401, given
        assert response.get_json()["error"]["code"] == "unauthorized"


@ONE_MODE
def test_a_non_ascii_metrics_token_matches_what_a_client_sends_in_utf8(app, client):
    app.config["WF_METRICS_TOKEN"] = "jeton-é"
    on_the_wire = "jeton-é".encode().decode("latin-1")
    scrape(client, {"Authorization": f"Bearer {on_the_wire}"})
    assert client.get("/metrics", headers={"Authorization": "Bearer jeton-e"}).status_code == 401


@ONE_MODE
def test_a_request_id_is_accepted_or_made_and_always_echoed(client):
    given = client.get("/health", headers={"X-Request-ID": "lb-1234.abc"})
    assert given.headers["X-Request-ID"] == "lb-1234.abc"
    made = client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    for bad in ("x" * 129, "a b", "<script>", 'id"quoted'):
        replaced = client.get("/health", headers={"X-Request-ID": bad})
        assert replaced.headers["X-Request-ID"] != bad
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])


@ONE_MODE
def test_a_request_traces_http_then_adapter_then_sql(client, auth, spans):
    spans.clear()
    response = client.post("/api/workflows", json={"name": "w"}, headers=auth)
    assert response.status_code == 201
    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    server = [span for span in finished if span.kind.name == "SERVER"]
    assert len(server) == 1 and server[0].attributes["http.route"] == "/api/workflows"
    sql = [span for span in finished if "db.system" in span.attributes]
    assert sql, "no SQL span"

    def ancestors(span):
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            yield span

    commit = [s for s in finished if s.name == "unit_of_work.commit"]
    assert commit and server[0] in list(ancestors(commit[0]))
    assert any(commit[0] in list(ancestors(span)) for span in sql)
    assert all(span.context.trace_id == server[0].context.trace_id for span in finished)
    for span in sql:
        statement = span.attributes.get("db.statement") or span.attributes.get("db.query.text")
        assert "w" not in re.findall(r"'([^']*)'", statement)  # placeholders, not values


@pytest.mark.parametrize("app", [("memory-only", None)], indirect=True)
def test_a_guard_refusal_is_a_json_log_line_with_the_request_and_trace(app, client, capsys):
    admin = make_admin(app, client)
    register(client)  # a record only in memory: the database cannot take over yet
    capsys.readouterr()
    response = client.put(
        "/admin/migration/mode",
        json={"mode": "database-only", "reason": "too early"},
        headers={**admin, "X-Request-ID": "refused-switch-1"},
    )
    assert response.status_code == 409
    lines = json_lines(capsys.readouterr().err)
    refused = [line for line in lines if "refused" in line["message"]]
    assert refused, lines
    line = refused[0]
    assert line["level"] == "WARNING"
    assert line["logger"] == "wfplatform.storage.switching"
    assert line["request_id"] == "refused-switch-1"
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", line["span_id"])


def test_no_password_key_token_or_credential_in_spans_metrics_or_logs(
    app, client, spans, capsys, caplog
):
    caplog.set_level("DEBUG")
    spans.clear()
    password, new_password = "first-Secret-passw0rd", "second-Secret-passw0rd"
    user = register(client, password=password)
    headers = login(client, user["email"], password)
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": password, "new_password": new_password},
        headers=headers,
    )
    assert changed.status_code == 200, changed.get_json()
    headers = {"Authorization": f"Bearer {changed.get_json()['access_token']}"}
    login(client, user["email"], new_password)
    client.post("/api/auth/login", json={"email": user["email"], "password": "wrong-Secret-x"})
    body = {"name": "ci", "current_password": new_password}
    created = client.post("/api/users/me/api-keys", json=body, headers=headers)
    key = created.get_json()["key"]
    assert client.get("/api/users/me", headers={"X-API-Key": key}).status_code == 200
    assert (
        client.get("/api/users/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    data = {"token": "credential-Secret-token", "password": "credential-Secret-passw0rd"}
    credential = client.post(
        "/api/credentials",
        json={"name": "c", "type": "httpBasicAuth", "data": data},
        headers=headers,
    ).get_json()
    path = f"/api/credentials/{credential['id']}"
    assert client.get(f"{path}?reveal=true", headers=headers).get_json()["data"] == data
    changed_data = {"token": "credential-Secret-rotated"}
    assert client.patch(path, json={"data": changed_data}, headers=headers).status_code == 200
    assert client.get("/api/credentials", headers=headers).status_code == 200
    storage = get_storage(app)
    storage.parts.shadow.drain()
    sealed = storage.credentials.get(credential["id"]).sealed_data
    stored = storage.in_memory("users").fetch(user["id"]) or storage.users.get(user["id"])
    secrets = {
        password,
        new_password,
        "wrong-Secret-x",
        key,
        key.split("_", 1)[-1],
        headers["Authorization"].split()[1],
        stored.password_hash,
        services(app).accounts.storage.users.get(user["id"]).password_hash,
        *data.values(),
        *changed_data.values(),
        sealed,
    }
    seen = [client.get("/metrics").get_data(as_text=True), capsys.readouterr().err, caplog.text]
    for record in caplog.records:
        seen.append(repr(vars(record)))
    for span in spans.get_finished_spans():
        seen.append(span.to_json())
    admin = make_admin(app, client)
    seen.append(client.get("/api/audit-logs?limit=100", headers=admin).get_data(as_text=True))
    assert len(seen) > 3
    for text in seen:
        for secret in secrets:
            assert secret not in text
