from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from .codec import utcnow
from .validation import check_record

STATUSES = ("draft", "active", "inactive", "archived")
MAX_LENGTHS = {"name": 200}
# What a record stores for its owner (what the bytes quota counts): text fields, JSON fields.
WORKFLOW_CONTENT = (("name", "description"), ("tags", "nodes", "edges", "settings"))
VERSION_CONTENT = (("name",), ("nodes", "edges", "settings"))


def content_bytes(record: object, content: tuple[tuple[str, ...], tuple[str, ...]]) -> int:
    """UTF-8 bytes of the text fields plus the length of the JSON fields as `json.dumps`
    writes them (what SQLite stores; PostgreSQL's JSONB text is as long for ASCII)."""
    texts, documents = content
    size = sum(len(str(getattr(record, name)).encode("utf-8", "surrogatepass")) for name in texts)
    # one `json.dumps` for every document: a list adds its brackets and a ", " between items
    together = json.dumps([getattr(record, name) for name in documents])
    return size + len(together) - 2 - 2 * (len(documents) - 1)


@dataclass
class Workflow:
    user_id: str
    name: str
    description: str = ""
    status: str = "draft"
    tags: list[str] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def validate(self) -> None:
        check_record(self, MAX_LENGTHS, {"status": STATUSES}, required=("name",))

    @cached_property
    def stored_bytes(self) -> int:
        """Measured once per record: storage replaces a record, it never changes one."""
        return content_bytes(self, WORKFLOW_CONTENT)

    @property
    def search_text(self) -> str:
        """What `search` matches, case-folded the same way in every backend."""
        return f"{self.name}\n{self.description}".casefold()

    @property
    def node_types(self) -> list[str]:
        nodes = [node for node in self.nodes if isinstance(node, dict)]  # older records
        return sorted({str(node["type"]) for node in nodes if node.get("type")})

    @property
    def required_credential_types(self) -> list[str]:
        """The keys of every node's `credentials` object (n8n's shape), plus the older
        single `credential_type` a node may still carry."""
        found: set[str] = set()
        for node in self.nodes:
            if not isinstance(node, dict):
                continue
            if node.get("credential_type"):
                found.add(str(node["credential_type"]))
            credentials = node.get("credentials")
            if isinstance(credentials, dict):
                found.update(str(key) for key in credentials if key)
        return sorted(found)

    @property
    def credential_ids(self) -> set[str]:
        """The stored credentials the nodes name (`credentials: {type: {"id": ...}}`)."""
        return {
            str(reference["id"])
            for node in self.nodes
            if isinstance(node, dict) and isinstance(node.get("credentials"), dict)
            for reference in node["credentials"].values()
            if isinstance(reference, dict) and reference.get("id")
        }


@dataclass
class WorkflowVersion:
    workflow_id: str
    number: int
    name: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=utcnow)

    def validate(self) -> None:
        check_record(self, MAX_LENGTHS, required=("name",))

    @cached_property
    def stored_bytes(self) -> int:
        return content_bytes(self, VERSION_CONTENT)


def graph_problems(nodes: list[Any], edges: list[Any]) -> dict[str, Any]:
    """What is wrong with a workflow's graph, shaped like marshmallow's error details
    (`{"nodes": {index: {field: [message]}}, "edges": ...}`); empty when nothing is.

    Node ids are unique, non-empty strings; every node has a type; an edge joins two nodes
    of the same workflow."""
    problems: dict[str, Any] = {}
    ids: set[str] = set()
    for index, node in enumerate(nodes):
        found = _node_problems(node if isinstance(node, dict) else {}, ids)
        if found:
            problems.setdefault("nodes", {})[index] = found
    for index, edge in enumerate(edges):
        edge = edge if isinstance(edge, dict) else {}
        found = {
            end: [f"no node with id {edge.get(end)!r}"]
            for end in ("from", "to")
            if edge.get(end) not in ids
        }
        if found:
            problems.setdefault("edges", {})[index] = found
    return problems


def _node_problems(node: dict[str, Any], ids: set[str]) -> dict[str, list[str]]:
    """Checks one node and adds its id to `ids`."""
    found = {}
    node_id, node_type = node.get("id"), node.get("type")
    if not isinstance(node_id, str) or not node_id.strip():
        found["id"] = ["a node needs a non-empty string id"]
    elif node_id in ids:
        found["id"] = [f"duplicate node id {node_id!r}"]
    else:
        ids.add(node_id)
    if not isinstance(node_type, str) or not node_type.strip():
        found["type"] = ["a node needs a non-empty string type"]
    return found
