"""The optional LLM judge, over HTTP against the fake Anthropic upstream."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from evals.judge import DEFAULT_RUBRIC, JudgeUnavailableError, LLMJudgeEvaluator
from evals.judge_client import anthropic_completer
from sim.upstream import FakeUpstream
from tests.evals.turns import contexts, turn


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def test_the_judge_sends_its_rubric_and_reads_a_json_verdict(upstream: FakeUpstream) -> None:
    complete, client = anthropic_completer(upstream.base_url, "sk-judge")
    with client:
        judge = LLMJudgeEvaluator(complete, model="claude-haiku-4-5-20251001")
        graded = turn(0, stop_reason="max_tokens", output_tokens=32_000)
        score = judge.score(contexts([graded])[0])
    # the fake fills the verdict schema with its simplest instance: score 0, placeholder texts
    assert (score.value, score.label) == (0.0, "Simulated session")
    (request,) = upstream.requests
    body = orjson.loads(request.body)
    assert request.header("x-api-key") == "sk-judge" and body["stream"] is False
    assert body["system"][0]["text"] == DEFAULT_RUBRIC and body["model"] == "claude-haiku-4-5-20251001"
    assert '"stop_reason": "max_tokens"' in body["messages"][0]["content"]
    assert body["output_config"]["format"]["schema"]["required"] == ["score", "label", "reason"]
    assert judge.version.startswith("1-") and judge.version != LLMJudgeEvaluator(complete, rubric="other").version


def test_an_unreachable_or_failing_judge_is_unavailable_not_a_score(upstream: FakeUpstream) -> None:
    complete, client = anthropic_completer(upstream.base_url, None)
    with client:
        upstream.inject("529")
        with pytest.raises(JudgeUnavailableError, match="529"):
            LLMJudgeEvaluator(complete).score(contexts([turn(0)])[0])
    gone, closed = anthropic_completer("http://127.0.0.1:9", None, timeout_s=2)
    with closed, pytest.raises(JudgeUnavailableError, match="unreachable"):
        LLMJudgeEvaluator(gone).score(contexts([turn(0)])[0])


@pytest.mark.parametrize(("text", "value"), [('{"score": 0.8, "label": "useful", "reason": "r"}', 0.8),
                                             ('Sure. {"score": 7, "label": "x", "reason": "y"} Done.', 1.0)])
def test_verdicts_are_parsed_and_clamped(text: str, value: float) -> None:
    def complete(_: dict) -> dict:  # type: ignore[type-arg]
        return {"content": [{"type": "text", "text": text}]}

    assert LLMJudgeEvaluator(complete).score(contexts([turn(0)])[0]).value == value
    with pytest.raises(JudgeUnavailableError):
        LLMJudgeEvaluator(lambda _: {"content": [{"type": "text", "text": "no verdict"}]}).score(
            contexts([turn(0)])[0])
