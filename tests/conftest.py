"""Shared test rules. Tests that need a server the machine may lack (PostgreSQL, Redis, the Claude
Code CLI, Chromium) skip with the reason on a newcomer's laptop; with SWITCHYARD_REQUIRE_SERVICES=1
(set by .ci/run) a missing server is a failure instead."""

from __future__ import annotations

import os

import pytest


def require_or_skip(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("SWITCHYARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required by SWITCHYARD_REQUIRE_SERVICES=1 but unavailable: {reason}")
    pytest.skip(reason)



@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    """An OTLP/HTTP traces receiver on loopback: (receiver, base URL)."""
    from tests.loopback import serve_in_thread
    from tests.otlp_receiver import OtlpReceiver

    otlp = OtlpReceiver()
    with serve_in_thread(otlp, lifespan="off") as url:
        yield otlp, url


# Whole-system proofs and soaks that take a minute or more each: `make test-fast` leaves them out
# (`-m "not slow"`); `make test` and CI run them. The two optimizer proofs get a longer timeout for
# their module fixture (a simulated fleet through ingest's pipeline, evals, clustering and a search).
SLOW_MODULES = {
    "tests/optimizer/test_segmented_proof.py": 1200,
    "tests/optimizer/test_fleet_proof.py": 900,
    "tests/switchyard/test_newcomer.py": 960,  # a cold pip install of the runtime lock takes minutes
    "tests/e2e/test_closed_loop.py": None,
    "tests/faults/test_ingest_outage.py": None,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
            if SLOW_MODULES[module] is not None:
                item.add_marker(pytest.mark.timeout(SLOW_MODULES[module]))
