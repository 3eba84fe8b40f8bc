from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(UpstreamConfig(text_deltas=5)) as fake:
        yield fake
