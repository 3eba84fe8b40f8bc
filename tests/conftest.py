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
