from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway
from tests.otlp_receiver import OtlpReceiver


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str]) -> Iterator[Gateway]:
    yield from make_gateway(tmp_path, upstream, receiver)
