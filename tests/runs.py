"""Running workflows in tests: a user, their workflows and one process's execution engine
on a storage, and small builders of nodes and edges."""

from __future__ import annotations

import time

from tests.factories import TEST_RING, make_user
from wfplatform.executions import events
from wfplatform.executions.destinations import NetworkPolicy
from wfplatform.executions.engine import ExecutionEngine
from wfplatform.executions.service import Executions
from wfplatform.executions.settings import EngineSettings
from wfplatform.services.context import Actor
from wfplatform.services.credentials import Credentials
from wfplatform.services.workflows import Workflows

FAST = EngineSettings(
    lease_seconds=1.0, sweep_seconds=0.2, cancel_poll_seconds=0.05, network=NetworkPolicy(())
)


class Platform:
    """A user, their workflows, and the engine of one process on one storage."""

    def __init__(self, storage, settings: EngineSettings = FAST) -> None:
        self.storage = storage
        self.user = storage.users.add(make_user())
        self.actor = Actor(self.user.id)
        self.workflows = Workflows(storage)
        self.engine = ExecutionEngine(storage, Credentials(storage, TEST_RING), settings)
        self.executions = Executions(storage, self.engine)
        self.heard: list[events.Event] = []
        self.engine.bus.subscribe(self.heard.append)

    def workflow(self, nodes, edges=(), **settings):
        fields = {"name": "flow", "nodes": list(nodes), "edges": list(edges), "settings": settings}
        return self.workflows.create(self.actor, fields)

    def run(self, workflow, given=None, seconds: float = 10.0):
        execution = self.executions.execute(self.actor, workflow.id, given)
        return self.executions.wait(execution, seconds)

    def nodes_of(self, execution):
        return self.executions.nodes(self.actor, execution.id)[1]

    def close(self) -> None:
        self.engine.close()


def node(node_id, node_type, **parameters):
    return {"id": node_id, "type": node_type, "parameters": parameters}


def edge(source, target, output=0):
    return {"from": source, "to": target, "output": output}


def outputs(platform, execution) -> dict[str, list]:
    return {n.node_id: n.output for n in platform.nodes_of(execution) if n.status == "success"}


def until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
