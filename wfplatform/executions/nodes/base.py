"""What a node type is to the engine: a name, the schema of its parameters, and `run`,
which turns the items a node receives into the items of each of its outputs.

Items are JSON objects (n8n's `item.json`). A node receives the items of every edge into it
(`NodeCall.inputs`, one list per edge; `items` is all of them in edge order) and answers one
list per output: `if` has two, the others one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import Schema

Item = dict[str, Any]
Outputs = list[list[Item]]


class NodeFailed(Exception):
    """A node that cannot do its work: the message is what the execution records (never
    a secret)."""


class Cancelled(Exception):
    """The execution was asked to stop, or (`lost`) its runner lost its lease."""

    def __init__(self, lost: bool = False) -> None:
        super().__init__("lease lost" if lost else "cancelled")
        self.lost = lost


@dataclass
class NodeCall:
    node: dict[str, Any]
    parameters: dict[str, Any]  # as the type's schema loaded them (defaults filled in)
    inputs: list[list[Item]]
    items: list[Item]
    idempotency_key: str
    credential: Callable[[str], dict[str, Any]]  # a credential type the node names -> its data
    pause: Callable[[float], None]  # sleeps; raises `Cancelled` when asked to stop


class NodeType:
    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[type[Schema]]
    trigger: ClassVar[bool] = False  # starts a run: receives the execution's input

    def problems(self, node: dict[str, Any]) -> dict[str, Any]:
        """What is wrong with the node's parameters for this type (marshmallow's shape)."""
        return self.parameters().validate(node.get("parameters") or {})

    def load(self, node: dict[str, Any]) -> dict[str, Any]:
        return self.parameters().load(node.get("parameters") or {})

    def run(self, call: NodeCall) -> Outputs:
        raise NotImplementedError
