"""The benchmarks measure the platform as users run it: nothing of the test suite reaches
them (tests/conftest.py installs an in-memory span exporter, which would record every span
of every figure), and the anchor of `bench.py http` stays bare (nothing of wfplatform)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_benchmark_imports_the_test_suite():
    sources = [SCRIPTS / "bench.py", *sorted((SCRIPTS / "benchmarks").glob("*.py"))]

    importing = [str(p.relative_to(ROOT)) for p in sources if "tests" in _top_level_imports(p)]

    assert not importing, f"these benchmarks import the test suite: {importing}"


def test_the_http_anchor_imports_nothing_of_the_platform():
    assert "wfplatform" not in _top_level_imports(SCRIPTS / "benchmarks" / "anchor.py")
