"""The prompt-cache stand-in: reads what an earlier request wrote, TTL flavour, minimum size, bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.prompt_cache import PromptCacheSimulator


def body(history: int, *, ttl: str | None = None, marker: bool = True) -> dict[str, Any]:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    system: list[dict[str, Any]] = [{"type": "text", "text": "s" * 8000}]
    if marker:
        system[0]["cache_control"] = control
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " * 50} for i in range(history)]
    return {"model": "m", "max_tokens": 1, "system": system, "messages": messages}


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def test_write_then_read_then_partial_read() -> None:
    cache = PromptCacheSimulator()
    first, longer = body(3), body(5)
    written = cache.account(first, encode(first))
    assert written.cache_read_input_tokens == 0 and written.cache_creation_input_tokens > 2000
    assert written.ephemeral_5m_input_tokens == written.cache_creation_input_tokens
    assert written.total_input_tokens == len(encode(first)) // 4
    read = cache.account(longer, encode(longer))
    assert read.cache_read_input_tokens == written.cache_creation_input_tokens
    assert 0 < read.cache_creation_input_tokens < written.cache_creation_input_tokens
    assert read.total_input_tokens == len(encode(longer)) // 4


def test_one_hour_ttl_is_reported_apart() -> None:
    usage = PromptCacheSimulator().account(body(2, ttl="1h"), encode(body(2, ttl="1h")))
    assert usage.ephemeral_1h_input_tokens == usage.cache_creation_input_tokens > 0
    assert usage.ephemeral_5m_input_tokens == 0


def test_no_marker_or_small_prompt_means_no_caching() -> None:
    cache = PromptCacheSimulator()
    unmarked = body(2, marker=False)
    for _ in range(2):
        usage = cache.account(unmarked, encode(unmarked))
        assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (0, 0)
    tiny = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}], "cache_control": {}}
    assert cache.account(tiny, encode(tiny)).cache_creation_input_tokens == 0


def test_memory_is_bounded() -> None:
    cache = PromptCacheSimulator(max_entries=3)
    first = body(2)
    cache.account(first, encode(first))
    for index in range(3):  # other prompts push the first one out
        other = body(2)
        other["system"][0]["text"] = f"other {index} " * 800
        cache.account(other, encode(other))
    assert cache.account(first, encode(first)).cache_read_input_tokens == 0


def test_real_claude_code_turns_hit_the_cache() -> None:
    # The two requests of one real CLI tool loop: between them the billing tag changes, the system
    # message turns from a text block with cache_control into a string, and turns are appended.
    fixtures = Path(__file__).parents[1] / "e2e" / "fixtures"
    main, follow_up = (
        json.loads((fixtures / f"claude-code-2.1.330-{name}.json").read_text()) for name in ("main", "tool-result")
    )
    follow_up["body"]["system"][0]["text"] = "x-anthropic-billing-header: cc_version=2.1.330.777; cc_entrypoint=cli;"
    cache = PromptCacheSimulator()
    first = cache.account(main["body"], encode(main["body"]))
    second = cache.account(follow_up["body"], encode(follow_up["body"]))
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 10_000
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens < 500
