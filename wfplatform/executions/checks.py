"""What stops a workflow version from running, found before anything is recorded: a
cycle, a node type the engine does not have, parameters its type refuses, a credential
that is missing, another user's, inactive or expired. Shaped like the API's validation
details: `{"nodes": {index: {field: [...]}}, "graph": [...]}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..domain.workflows import WorkflowVersion, graph_problems
from .graph import Plan
from .nodes.base import NodeType

CredentialProblem = Callable[[str], "str | None"]  # a credential id -> why it cannot be used


def run_problems(
    version: WorkflowVersion, types: dict[str, NodeType], credential_problem: CredentialProblem
) -> dict[str, Any]:
    problems = graph_problems(version.nodes, version.edges)
    if problems:
        return problems
    for index, node in enumerate(version.nodes):
        found = _node_problems(node, types, credential_problem)
        if found:
            problems.setdefault("nodes", {})[index] = found
    cycle = Plan.of(version.nodes, version.edges).cycle()
    if cycle:
        problems["graph"] = [f"a cycle runs through or into nodes {', '.join(cycle)}"]
    return problems


def _node_problems(
    node: dict[str, Any], types: dict[str, NodeType], credential_problem: CredentialProblem
) -> dict[str, Any]:
    kind = types.get(node["type"])
    if kind is None:
        return {
            "type": [f"the engine has no node type {node['type']!r}: one of {', '.join(types)}"]
        }
    found: dict[str, Any] = {}
    parameters = kind.problems(node)
    if parameters:
        found["parameters"] = parameters
    credentials = {}
    for credential_type, reference in (node.get("credentials") or {}).items():
        credential_id = reference.get("id") if isinstance(reference, dict) else None
        why = credential_problem(str(credential_id)) if credential_id else "names no credential id"
        if why:
            credentials[credential_type] = [why]
    if credentials:
        found["credentials"] = credentials
    return found
