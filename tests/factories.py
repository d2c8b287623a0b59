"""Small factories for test data, with sequences so every record is distinct."""

from __future__ import annotations

import hashlib
import itertools

from wfplatform.domain.api_keys import ApiKey
from wfplatform.domain.users import User
from wfplatform.domain.workflows import Workflow, WorkflowVersion

_sequence = itertools.count(1)


def make_user(**overrides) -> User:
    n = next(_sequence)
    values = {"email": f"user{n}@example.com", "name": f"User {n}", "password_hash": "x" * 20}
    return User(**{**values, **overrides})


def make_workflow(user: User, **overrides) -> Workflow:
    n = next(_sequence)
    values = {
        "user_id": user.id,
        "name": f"Workflow {n}",
        "description": f"does thing {n}",
        "tags": ["demo"],
        "nodes": [
            {"id": "a", "type": "webhook", "parameters": {"path": f"/hook/{n}"}},
            {"id": "b", "type": "http_request", "credential_type": "http_basic"},
        ],
        "edges": [{"from": "a", "to": "b"}],
        "settings": {"timezone": "UTC"},
    }
    return Workflow(**{**values, **overrides})


def make_version(workflow: Workflow, number: int, **overrides) -> WorkflowVersion:
    values = {
        "workflow_id": workflow.id,
        "number": number,
        "name": workflow.name,
        "nodes": workflow.nodes,
        "edges": workflow.edges,
        "settings": workflow.settings,
    }
    return WorkflowVersion(**{**values, **overrides})


def make_api_key(user: User, **overrides) -> ApiKey:
    n = next(_sequence)
    digest = hashlib.sha256(f"key {n}".encode()).hexdigest()
    values = {"user_id": user.id, "name": f"key {n}", "prefix": f"wfk_{n:08d}", "key_hash": digest}
    return ApiKey(**{**values, **overrides})
