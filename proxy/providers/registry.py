"""One upstream per provider kind, made once at start-up and shared by every request."""

from __future__ import annotations

from core.policy.schema import Target
from core.providers.capabilities import load_capabilities

from .anthropic import AnthropicUpstream
from .aws import AwsCredentials
from .bedrock import BedrockUpstream, MantleUpstream
from .google import GoogleTokens
from .seam import Upstream
from .vertex import VertexUpstream


class Upstreams:
    def __init__(self, *, ping_every_s: float, aws: AwsCredentials | None = None,
                 google: GoogleTokens | None = None) -> None:
        table = load_capabilities()
        self.aws = aws or AwsCredentials()
        self.google = google or GoogleTokens()
        self._kinds: dict[str, Upstream] = {
            "anthropic": AnthropicUpstream(),
            "bedrock": BedrockUpstream(table["bedrock"], self.aws, ping_every_s),
            "bedrock-mantle": MantleUpstream(table["bedrock-mantle"], self.aws),
            "vertex": VertexUpstream(table["vertex"], self.google),
        }

    def of(self, target: Target) -> Upstream:
        return self._kinds[target.provider]

    async def problems(self, targets: tuple[Target, ...]) -> dict[str, str]:
        """Targets whose credentials cannot be had now (start-up, `doctor`): name -> why."""
        found: dict[str, str] = {}
        for target in targets:
            why = None
            if target.auth == "aws":
                why = await self.aws.check()
            elif target.auth == "google":
                why = await self.google.check()
            if why is not None:
                found[target.name] = why
        return found
