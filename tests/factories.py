"""Small factories for test data, with sequences so every record is distinct."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import uuid

from wfplatform.domain.api_keys import ApiKey
from wfplatform.domain.credentials import Credential
from wfplatform.domain.executions import Execution, NodeExecution
from wfplatform.domain.users import User
from wfplatform.domain.workflows import Workflow, WorkflowVersion
from wfplatform.services.encryption import KeyRing

_sequence = itertools.count(1)
# A fixed ring: the tests' credentials open in every app and storage they build (never a
# real key).
KEY_RING = "test-key-1:" + base64.b64encode(bytes(range(32))).decode()
TEST_RING = KeyRing.parse(KEY_RING)


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


def make_credential(user: User, ring: KeyRing = TEST_RING, **overrides) -> Credential:
    """A credential of `user` whose data is sealed with `ring`, as the service seals it."""
    n = next(_sequence)
    credential = Credential(
        user_id=user.id, name=f"credential {n}", type="httpBasicAuth", sealed_data=""
    )
    credential = dataclasses.replace(credential, **overrides)
    if not credential.sealed_data:
        plaintext = json.dumps({"user": f"robot {n}", "password": f"secret {n}"}).encode()
        credential.sealed_data = ring.seal(plaintext, credential.sealing_context())
    return credential


def make_execution(user: User, **overrides) -> Execution:
    """A queued execution of `user` (of a workflow that need not exist: the reference is
    soft)."""
    n = next(_sequence)
    values = {
        "workflow_id": str(uuid.uuid4()),
        "user_id": user.id,
        "workflow_version": 1,
        "input": {"order": n},
    }
    return Execution(**{**values, **overrides})


def make_node_execution(execution: Execution, **overrides) -> NodeExecution:
    n = next(_sequence)
    values = {
        "execution_id": execution.id,
        "node_id": f"node {n}",
        "node_type": "set",
        "input": [{"n": n}],
        "start_seq": n,
    }
    return NodeExecution(**{**values, **overrides})
