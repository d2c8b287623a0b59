from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .codec import utcnow
from .validation import check_record

STATUSES = ("draft", "active", "inactive", "archived")
MAX_LENGTHS = {"name": 200}


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

    @property
    def search_text(self) -> str:
        """What `search` matches, case-folded the same way in every backend."""
        return f"{self.name}\n{self.description}".casefold()

    @property
    def node_types(self) -> list[str]:
        return sorted({str(node.get("type", "")) for node in self.nodes if node.get("type")})

    @property
    def required_credential_types(self) -> list[str]:
        return sorted(
            {
                str(node["credential_type"])
                for node in self.nodes
                if isinstance(node, dict) and node.get("credential_type")
            }
        )


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
