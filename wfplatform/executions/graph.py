"""A workflow version's graph as the engine runs it: nodes in dependency order, and what
each node receives from which output of which node."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Input:
    """One incoming edge: the items output `output` of node `source` gives."""

    source: str
    output: int


@dataclass(frozen=True)
class Plan:
    nodes: dict[str, dict[str, Any]]  # by id
    order: tuple[str, ...]  # every node after the nodes it receives from
    inputs: dict[str, tuple[Input, ...]]  # node id -> its incoming edges, in edge order

    @classmethod
    def of(cls, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> Plan:
        """The plan of a graph whose nodes and edges were checked (`graph_problems`); its
        order leaves out the nodes of a cycle (`cycle` names them)."""
        by_id = {node["id"]: node for node in nodes}
        inputs: dict[str, list[Input]] = defaultdict(list)
        for edge in edges:
            inputs[edge["to"]].append(Input(edge["from"], int(edge.get("output") or 0)))
        return cls(
            by_id, _dependency_order(nodes, inputs), {k: tuple(v) for k, v in inputs.items()}
        )

    def cycle(self) -> list[str]:
        """The ids of the nodes on or behind a cycle (they can never run), in node order."""
        ordered = set(self.order)
        return [node_id for node_id in self.nodes if node_id not in ordered]

    def inputs_of(self, node_id: str) -> tuple[Input, ...]:
        return self.inputs.get(node_id, ())


def _dependency_order(nodes: list[dict[str, Any]], inputs: dict[str, list[Input]]) -> tuple:
    """Kahn's algorithm; among the nodes ready at once, the one listed first runs first, so
    the order is the same on every run."""
    position = {node["id"]: index for index, node in enumerate(nodes)}
    waiting = {node_id: len({i.source for i in inputs.get(node_id, ())}) for node_id in position}
    receivers: dict[str, set[str]] = defaultdict(set)
    for node_id, incoming in inputs.items():
        for edge in incoming:
            receivers[edge.source].add(node_id)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node_id = heapq.heappop(ready)
        order.append(node_id)
        for receiver in receivers[node_id]:
            waiting[receiver] -= 1
            if waiting[receiver] == 0:
                heapq.heappush(ready, (position[receiver], receiver))
    return tuple(order)
