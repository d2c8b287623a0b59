"""Fuzzing from the OpenAPI document (schemathesis): every documented operation, in
memory-only, dual and database-only, as a user and as an admin, with every check: no 5xx,
every answer (status, headers, body) as the document says, valid requests accepted, invalid
ones refused, undeclared methods answered 405 with Allow. A route is covered as soon as it
is documented; no test names one.

CI runs a bounded, derandomized sample (a few examples per operation, a fixed seed). The
larger run, with more examples and dual reading memory too:

    .venv/bin/python -m pytest -m fuzz_long tests/api/test_openapi_fuzz.py -p no:randomly
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings

from tests.api.fuzzing import (
    FUZZ_MODES,
    ROLES,
    Figures,
    credentials,
    document,
    fuzzed_app,
    is_coverage,
    prepare,
)

# Background jobs (dry-run backfills) make spans, which draw OpenTelemetry ids from
# `random`, while hypothesis draws the next case; harmless, so not an error here.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
CI_EXAMPLES = 4
COVERAGE_RUN = ("memory-only", "admin")  # the admin reaches every operation
COVERAGE_SHARE = 3
DOCUMENT = document()
# The service lives longer than one case on purpose: the cases build on each other.
SHARED_APP = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def figures(request):
    collected = Figures()
    yield collected
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for line in collected.lines():
            print(f"\nopenapi fuzz: {line}", end="")


@pytest.fixture
def coverage_sample():
    """Whether to send a coverage case: every COVERAGE_SHARE-th of an operation's, in
    their (deterministic) order, in the coverage run only."""
    seen = itertools.count()
    return lambda in_coverage_run: in_coverage_run and next(seen) % COVERAGE_SHARE == 0


@pytest.fixture(scope="module", params=ROLES)
def role(request) -> str:
    return request.param


@pytest.fixture(scope="module", params=FUZZ_MODES)
def fuzz_mode(request) -> tuple:
    return request.param


@pytest.fixture(scope="module")
def fuzz_app(request, tmp_path_factory, fuzz_mode):
    """One service per mode for every operation and role, as a deployment is."""
    with fuzzed_app(request, tmp_path_factory.mktemp("fuzz"), *fuzz_mode) as app:
        yield app


@pytest.fixture(scope="module")
def headers(fuzz_app, role):
    return credentials(fuzz_app, role)


@DOCUMENT.parametrize()
@settings(max_examples=CI_EXAMPLES, suppress_health_check=SHARED_APP)
def test_every_answer_is_the_documented_one(
    case, fuzz_app, fuzz_mode, role, headers, figures, coverage_sample
):
    """The coverage phase (boundary values, each constraint broken in turn, undeclared
    methods) runs in one mode and role, one case in COVERAGE_SHARE (the document is the
    same in every mode); every run gets the examples and the random cases."""
    run = f"{fuzz_mode[0]}-{role}"
    if is_coverage(case) and not coverage_sample((fuzz_mode[0], role) == COVERAGE_RUN):
        return
    prepare(case)
    response = case.call(headers=headers, app=fuzz_app)
    figures.record(run, response.status_code)
    case.validate_response(response, headers=headers, transport_kwargs={"app": fuzz_app})
