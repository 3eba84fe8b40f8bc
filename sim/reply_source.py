"""What the fake model says, decided in one place for every fake (Anthropic, Bedrock, Vertex AI):
the scripted answer when the request carries ``x-sim-script``, the agent script otherwise, and the
prompt-cache usage. Each fake only encodes the result in its own wire format.

Owned by one server's event loop (ids and the cache are not thread-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.agent_script import ReplyPlan, plan_reply
from sim.anthropic_ids import IdMinter
from sim.prompt_cache import InputUsage, PromptCacheSimulator
from sim.scripted_reply import Script, parse_script, scripted_plan
from sim.upstream_config import UpstreamConfig

# Answers are padded so each of the configured text deltas carries about this many characters.
CHARS_PER_TEXT_DELTA = 6


@dataclass(frozen=True, slots=True)
class Reply:
    plan: ReplyPlan
    usage: InputUsage


class ReplySource:
    def __init__(self, config: UpstreamConfig, ids: IdMinter | None = None) -> None:
        self.config = config
        self.ids = ids if ids is not None else IdMinter()
        self._cache = PromptCacheSimulator(max_entries=config.prompt_cache_entries)

    @staticmethod
    def script(header: str | None) -> Script | None:
        """The ``x-sim-script`` header read; raises ValueError with a message for the test author."""
        return parse_script(header) if header is not None else None

    def reply(self, body: dict[str, Any], raw_body: bytes, script: Script | None) -> Reply:
        """The answer to ``body`` (errors a script asks for are answered before this is called).

        ``body["model"]`` keys the prompt cache (caches are per model), so fakes whose bodies carry
        no model pass a copy with the served model set.
        """
        usage = self._cache.account(body, raw_body)
        if script is not None:
            plan = scripted_plan(script, body, self.ids.tool_use_id)
        else:
            plan = plan_reply(body, self.ids.tool_use_id, self.config.text_deltas * CHARS_PER_TEXT_DELTA)
        return Reply(plan, usage)
