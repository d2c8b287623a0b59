"""The dependency ranges in setup.cfg."""

from __future__ import annotations

from tests.dependencies import ranges


def test_opentelemetry_is_required_as_one_release():
    # Its contrib packages (0.NNbN) and the core (1.NN.N) are released in lockstep and pin
    # each other; independent lower bounds leave pip 23.2's resolver stuck.
    otel = [r for r in ranges("otlp", "dev") if r.name.startswith("opentelemetry-")]
    contrib = {str(r.specifier) for r in otel if r.name.startswith("opentelemetry-instrumentation")}
    core = {str(r.specifier) for r in otel} - contrib
    assert len(contrib) == 1 and next(iter(contrib)).startswith("==")
    assert len(core) == 1 and next(iter(core)).startswith("==")
