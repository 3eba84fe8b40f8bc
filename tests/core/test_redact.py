from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.redact import contains_secret, redact, redact_json, redact_record
from core.spans import Turn

SECRETS = {
    "anthropic_key": "sk-ant-api03-Qw3rTy_uIoP-aSdFgHjKl0987654321zxcvbnmQWERTY-AA",
    "api_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
           ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "email": "jane.doe+work@example.co.uk",
    "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
                   "-----END OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_kind_is_replaced_and_the_text_around_it_kept(kind: str) -> None:
    text = f"before {SECRETS[kind]} after"
    assert redact(text) == f"before [REDACTED:{kind}] after"


def test_bearer_tokens_keep_the_scheme_word() -> None:
    assert redact("Authorization: Bearer abc.DEF-123_x/y+z==") == "Authorization: Bearer [REDACTED:bearer]"
    assert redact("authorization: bearer tok") == "authorization: bearer [REDACTED:bearer]"


def test_an_unterminated_private_key_block_is_redacted_to_the_end() -> None:
    assert redact("x -----BEGIN PRIVATE KEY-----\nMIIEvQ...") == "x [REDACTED:private_key]"


@pytest.mark.parametrize("text", [
    "claude-sonnet-4-5-20250929", "task-abcdefghijklmnopqrstuvwxyz012345", "toolu_01ABCDEF",
    "user@localhost", "AKIAIOSFODNN7EXAMPLEX", "ask-ant-lookalike", "/v1/messages?beta=true", "",
])
def test_lookalikes_are_left_alone(text: str) -> None:
    assert redact(text) is text


@pytest.mark.parametrize("text", [
    "a" * 1_000_000, "a@" * 300_000, "a@b." * 250_000, "eyJ" * 300_000, "Bearer " * 100_000,
    "sk-ant-" + "a" * 1_000_000, "-----BEGIN PRIVATE KEY-----" * 30_000, "a@" + ("b" * 63 + ".") * 15_000,
])
def test_hostile_megabyte_inputs_finish(text: str) -> None:
    # a quadratic pattern would hit the pytest timeout here
    assert isinstance(redact(text), str)


@given(st.text(), st.sampled_from(sorted(SECRETS)), st.text())
def test_an_embedded_secret_never_survives(prefix: str, kind: str, suffix: str) -> None:
    redacted = redact(f"{prefix} {SECRETS[kind]} {suffix}")
    assert SECRETS[kind] not in redacted
    assert not contains_secret(redacted)


@given(st.text())
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_json_values_are_redacted_but_keys_kept() -> None:
    value = {"user.email": "jane@example.com", "n": 3, "nested": [{"token": "Bearer xyz"}], "ok": True}
    assert redact_json(value) == {
        "user.email": "[REDACTED:email]", "n": 3, "nested": [{"token": "Bearer [REDACTED:bearer]"}],
        "ok": True,
    }


def test_records_get_every_string_and_tuple_field_redacted_except_kept_ones() -> None:
    turn = Turn(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_ns=1, end_ns=2,
                developer="jane@example.com", error_message=f"bad key {SECRETS['anthropic_key']}",
                tool_use_names=("Bash", "mail bob@example.org"), repo="acme/app")
    clean = redact_record(turn)
    assert clean.developer == "[REDACTED:email]"
    assert clean.error_message == "bad key [REDACTED:anthropic_key]"
    assert clean.tool_use_names == ("Bash", "mail [REDACTED:email]")
    assert clean.repo == "acme/app" and clean.trace_id == turn.trace_id
    assert redact_record(turn, keep=["developer"]).developer == "jane@example.com"
    plain = Turn(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_ns=1, end_ns=2, repo="acme/app")
    assert redact_record(plain) is plain
