from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.bedrock import FakeBedrock
from sim.bedrock_config import BedrockConfig
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(UpstreamConfig(text_deltas=5)) as fake:
        yield fake


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock(BedrockConfig(pacing=UpstreamConfig(text_deltas=5))) as fake:
        yield fake


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    with FakeVertex(VertexConfig(pacing=UpstreamConfig(text_deltas=5))) as fake:
        yield fake
