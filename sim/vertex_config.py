"""Settings of the fake Vertex AI: the project and region its URLs must name, the access tokens it
accepts, capabilities, model ids, and the same pacing knobs as the fake Anthropic (``pacing``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sim.fake_credentials import TEST_VERTEX_ACCESS_TOKEN, TEST_VERTEX_PROJECT, TEST_VERTEX_REGION
from sim.provider_capabilities import VERTEX_CAPABILITIES, Capabilities
from sim.upstream_config import UpstreamConfig

VERTEX_VERSION = "vertex-2023-10-16"
COUNT_TOKENS_MODEL = "count-tokens"
_CLAUDE_MODEL = re.compile(r"^claude-[a-z0-9.-]+(?:@(?:\d{8}|default))?$")


@dataclass(frozen=True, slots=True)
class VertexConfig:
    project: str = TEST_VERTEX_PROJECT
    # The location URLs must name ("global" for the global endpoint).
    region: str = TEST_VERTEX_REGION
    access_tokens: tuple[str, ...] = (TEST_VERTEX_ACCESS_TOKEN,)
    pacing: UpstreamConfig = field(default_factory=UpstreamConfig)
    capabilities: Capabilities = VERTEX_CAPABILITIES
    # None: any Claude model id (``claude-haiku-4-5@20251001``, ``claude-opus-4-6``); else exactly these.
    models: tuple[str, ...] | None = None
    # Requests estimated above this many input tokens get "prompt is too long: N tokens > M maximum".
    max_input_tokens: int | None = None
    # Refuse thinking blocks this fake did not sign ("Invalid `signature` in `thinking` block").
    reject_foreign_signatures: bool = False
    signature_provider: str = "vertex"

    def __post_init__(self) -> None:
        if self.max_input_tokens is not None and self.max_input_tokens < 1:
            raise ValueError("max_input_tokens must be positive")

    def known_model(self, model: str) -> bool:
        return model in self.models if self.models is not None else bool(_CLAUDE_MODEL.match(model))

    @property
    def count_tokens_capabilities(self) -> Capabilities:
        """count-tokens:rawPredict names the model in the body (the URL's model is "count-tokens")."""
        return replace(self.capabilities, fields=self.capabilities.fields | {"model"})


def served_model(model: str) -> str:
    """What the answer names as its model: ``claude-haiku-4-5@20251001`` → ``claude-haiku-4-5-20251001``."""
    name, _, version = model.partition("@")
    return f"{name}-{version}" if version and version != "default" else name


def quota_base_model(model: str) -> str:
    """The name Vertex's quota errors give the model: ``anthropic-claude-haiku-4-5``."""
    return "anthropic-" + model.partition("@")[0]
