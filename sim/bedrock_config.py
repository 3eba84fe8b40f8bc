"""Settings of the fake Bedrock (runtime and Mantle): region, accepted credentials, capabilities,
model ids, and the same pacing knobs as the fake Anthropic (``pacing``: an UpstreamConfig).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sim.fake_credentials import TEST_AWS_KEY, TEST_AWS_REGION, TEST_AWS_TEMP_KEY, TEST_BEDROCK_API_KEY
from sim.provider_capabilities import BEDROCK_CAPABILITIES, MANTLE_CAPABILITIES, Capabilities
from sim.sigv4_check import AwsKey
from sim.upstream_config import UpstreamConfig

BEDROCK_VERSION = "bedrock-2023-05-31"
# Inference profiles (us./eu./apac./global. …), bare foundation-model ids, and ARNs of either.
_GEO_PREFIX = r"(?:us|eu|apac|global|jp|au|ca|us-gov)\."
_ANTHROPIC_MODEL = re.compile(rf"^(?:{_GEO_PREFIX})?anthropic\.(claude-[a-z0-9.-]+?)(?:-v\d+(?::\d+)?)?$")
_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{0,12}:[a-z-]+/.+$")
_PROFILE = re.compile(rf"^{_GEO_PREFIX}")
_HOST_REGION = re.compile(r"^bedrock-(?:runtime|mantle)\.([a-z0-9-]+)\.(?:amazonaws\.com|api\.aws)(?::\d+)?$")


@dataclass(frozen=True, slots=True)
class BedrockConfig:
    # Requests are signed for this region unless the Host names one (bedrock-runtime.<region>.amazonaws.com).
    region: str = TEST_AWS_REGION
    pacing: UpstreamConfig = field(default_factory=UpstreamConfig)
    aws_keys: tuple[AwsKey, ...] = (TEST_AWS_KEY, TEST_AWS_TEMP_KEY)
    # Bedrock API keys accepted as "Authorization: Bearer …" (empty: bearer auth refused).
    api_keys: tuple[str, ...] = (TEST_BEDROCK_API_KEY,)
    runtime_service: str = "bedrock"
    mantle_service: str = "bedrock-mantle"
    max_clock_skew_s: float = 300.0
    capabilities: Capabilities = BEDROCK_CAPABILITIES
    mantle_capabilities: Capabilities = MANTLE_CAPABILITIES
    # None: any Anthropic model id, inference profile or ARN; else exactly these (others: 400).
    models: tuple[str, ...] | None = None
    # The answer's "model" when the id names none (an application-inference-profile ARN).
    default_served_model: str = "claude-haiku-4-5-20251001"
    # Requests estimated above this many input tokens get "Input is too long for requested model."
    max_input_tokens: int | None = None
    # Refuse thinking blocks this fake did not sign ("messages.N.content.M: Invalid signature …").
    reject_foreign_signatures: bool = False
    signature_provider: str = "bedrock"

    def __post_init__(self) -> None:
        if self.max_clock_skew_s <= 0:
            raise ValueError("max_clock_skew_s must be positive")
        if self.max_input_tokens is not None and self.max_input_tokens < 1:
            raise ValueError("max_input_tokens must be positive")

    def region_for(self, host: str | None) -> str:
        match = _HOST_REGION.match(host or "")
        return match.group(1) if match else self.region

    def known_model(self, model_id: str) -> bool:
        if self.models is not None:
            return model_id in self.models
        return bool(_ANTHROPIC_MODEL.match(model_id) or _ARN.match(model_id))

    def served_model(self, model_id: str) -> str:
        """What the answer names as its model: ``us.anthropic.claude-haiku-4-5-20251001-v1:0`` →
        ``claude-haiku-4-5-20251001`` (as Bedrock reports it)."""
        match = _ANTHROPIC_MODEL.match(model_id.rsplit("/", 1)[-1])
        return match.group(1) if match else self.default_served_model


def is_inference_profile(model_id: str) -> bool:
    """A cross-region profile id (CountTokens refuses those: it wants the foundation-model id)."""
    return bool(_PROFILE.match(model_id)) or "inference-profile/" in model_id
