"""Every rule: texts it must find (true positives) and texts it must leave alone (false positives),
on both engines. Secret-shaped values are assembled at run time from a random-looking filler so
this file holds none for a scanner to trip on."""

from __future__ import annotations

import hashlib

import pytest

from core.secrets.rules import DEFAULT_RULE_IDS, RULES
from core.secrets.scan import FINGERPRINT_HEX_CHARS, MAX_FINDINGS, SecretScanner, fingerprint

SALT = b"test-salt-0123456789"
R = "q7Xk2LmP9vRt4WzB8nYc3HdF6jS1aGe5uKo0iQpZ"  # 40 random-looking characters, no runs, no words
HEX40 = "3f9a1c7e5b2d8046f1e3a9c7b5d2e8f01a3c5e7b"
B64_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"


def _scan(text: str, engine: str = "re2") -> set[str]:
    return {finding.rule for finding in SecretScanner(SALT, engine=engine).scan(text)}  # type: ignore[arg-type]


POSITIVES = [
    ("private_key", f"-----BEGIN RSA PRIVATE KEY-----\n{B64_LINE}\n{B64_LINE[::-1]}\n-----END RSA PRIVATE KEY-----"),
    ("private_key", '{"key": "-----BEGIN PRIVATE KEY-----\\n' + B64_LINE + '\\n' + B64_LINE + '\\n-----END"}'),
    ("private_key", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{B64_LINE}"),  # truncated output still counts
    ("anthropic_api_key", "ANTHROPIC_API_KEY=sk-ant-api03-" + R + R + "_-" + R[:13] + "AA"),
    ("anthropic_api_key", "use sk-ant-admin01-" + R + "AA please"),
    ("openai_api_key", "OPENAI_API_KEY=sk-proj-" + R + "T3BlbkFJ" + R),
    ("openai_api_key", "key = 'sk-" + R[:20] + "T3BlbkFJ" + R[20:40] + "'"),
    ("aws_access_key_id", "aws_access_key_id = AKIA" + R[:16].upper().replace("0", "Q")),
    ("aws_access_key_id", '"AccessKeyId": "ASIA' + "Z3XK2LMP9VRT4WZB" + '"'),
    ("aws_secret_access_key", "aws_secret_access_key = " + R),
    ("aws_secret_access_key", '"SecretAccessKey": "' + R[:20] + "/+" + R[22:] + '"'),
    ("github_token", "GITHUB_TOKEN=ghp_" + R[:36]),
    ("github_token", "https://github_pat_" + R[:22] + "_" + R + R[:19] + "@github.com/a/b"),
    ("gitlab_token", "PRIVATE-TOKEN: glpat-" + R[:20]),
    ("gitlab_token", "runner token glrt-" + R[:24]),
    ("slack_token", "xoxb-123456789012-1234567890123-" + R[:24]),
    ("slack_token", "xoxp-123456789012-123456789012-1234567890123-" + HEX40[:32]),
    ("slack_webhook", "https://hooks.slack.com/services/T0ABC1234/B0DEF567890/" + R[:24]),
    ("stripe_key", "stripe.api_key = 'sk_live_" + R[:24] + "'"),
    ("stripe_key", "STRIPE_WEBHOOK_SECRET=whsec_" + R[:32]),
    ("google_api_key", "GOOGLE_API_KEY=AIza" + R[:35]),
    ("google_oauth_client_secret", '"client_secret": "GOCSPX-' + R[:28] + '"'),
    ("google_service_account", '{"type": "service_account", "private_key_id": "' + HEX40 + '"}'),
    ("jwt", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9." + R[:43]),
    ("google_service_account", '"{\\"type\\": \\"service_account\\", \\"private_key_id\\": \\"' + HEX40 + '\\"}"'),
    ("bearer_token", "curl -H 'Authorization: Bearer " + R + "' https://api.acme.dev/v1/orders"),
    ("bearer_token", '{"authorization": "bearer ya29.' + R + R + '"}'),
    ("database_url", "DATABASE_URL=postgresql://orders:" + R[:18] + "@db.internal:5432/orders"),
    ("database_url", "redis://:" + R[:16] + "@cache:6379/0"),
    ("database_url", 'create_engine("mysql+pymysql://root:Zq8xK2mW9p@10.0.0.3/shop")'),
    ("generic_secret", "DB_PASSWORD=Xk29!mQz8#pL"),
    ("generic_secret", '  "client_secret": "' + R[:24] + '",'),
    ("generic_secret", '    password: str = "Summer2024!x"'),
    ("generic_secret", "smtp:\n  password: hY7%kL2qPz\n"),
    ("generic_secret", "client_token = 'hvs2CAESIJk7Qm9sLx4Rt'"),  # Vault's snake_case client_token is one
    ("generic_secret", "session_token: 'hh5s93j4hdidpolz'"),  # one character off the RFC's example
]

NEGATIVES = [
    # private_key: the header alone is in every PEM parser; a placeholder body is not a key
    ("private_key", 'if line == "-----BEGIN RSA PRIVATE KEY-----":\n    return parse(lines)'),
    ("private_key", "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----"),
    ("anthropic_api_key", "export ANTHROPIC_API_KEY=sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("anthropic_api_key", "keys start with sk-ant- followed by a version"),
    ("openai_api_key", "OPENAI_API_KEY=sk-proj-YOUR_KEY_HERE"),
    ("openai_api_key", "task-" + R),  # a `-` inside a word is not a key prefix
    ("aws_access_key_id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),  # AWS's documentation key
    ("aws_access_key_id", "AKIA" + R[:16].upper() + "EXTRA"),  # longer than a key id
    ("aws_secret_access_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws_secret_access_key", "aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']"),
    ("github_token", "token = ghp_" + "x" * 36),
    ("github_token", "the ghp_ prefix marks personal access tokens"),
    ("gitlab_token", "glpat-xxxxxxxxxxxxxxxxxxxx"),
    ("slack_token", "SLACK_BOT_TOKEN=xoxb-your-bot-token"),
    ("slack_webhook", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("stripe_key", "stripe.api_key = 'sk_test_...'"),
    ("stripe_key", "publishable = 'pk_live_" + R[:24] + "'"),  # publishable keys are public
    ("google_api_key", "AIza is the prefix of Google API keys"),
    ("google_oauth_client_secret", "GOCSPX-<your secret>"),
    ("google_service_account", '"private_key_id": "<KEY_ID>"'),
    ("jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."),  # unsigned: nothing to steal
    ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
            "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),  # jwt.io's public sample
    ("bearer_token", 'headers = {"Authorization": "Bearer " + token}'),
    ("bearer_token", "curl -H 'Authorization: Bearer $GITHUB_TOKEN' https://api.github.com/user"),
    ("bearer_token", "Authorization: Bearer <your-access-token-goes-here>"),
    ("bearer_token", "authorization: bearer authentication_required_for_this_route"),
    ("database_url", "engine = create_engine('postgresql://scott:tiger@localhost/test')"),
    ("database_url", "url = f'postgresql://{user}:{password}@{host}/db'"),
    ("database_url", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ("database_url", "DATABASE_URL=postgresql://app:${DB_PASSWORD}@db:5432/app"),
    ("database_url", "mysql://user:password@localhost/db"),
    ("generic_secret", 'password = os.environ["DB_PASSWORD"]'),
    ("generic_secret", "token = self.session_token2"),
    ("generic_secret", "def login(password: SecretStr, token: OAuth2Token) -> None: ..."),
    ("generic_secret", "if tok.token == tokenize.NAME2:"),
    ("generic_secret", 'password = "correct horse battery staple"'),
    ("generic_secret", 'SECRET_KEY = "django-insecure-change-me"'),
    ("generic_secret", 'api_key = "test-key-123456"'),
    ("generic_secret", 'publicKeyToken="1fc8b3b9a1e18e3b"'),
    ("generic_secret", "password_hash = compute(password1)"),
    ("generic_secret", "query = 'user=%s&password=%(password)s'"),
    # found on installed packages' sources (bench/secret_scan.py, every file): pagination and
    # idempotency tokens, ids, link targets, identifiers, the OAuth RFCs' own examples
    ("generic_secret", '"NextToken": "abcdefg123",'),
    ("generic_secret", '"ClientRequestToken": "a8ca07e4-61ec-4399-99f4-19853801bcd5",'),
    ("generic_secret", '"ChangeToken": "abcd12f2-46da-4fdb-b8d5-fbd4c466928f",'),
    ("generic_secret", '"ClientToken": "cachedvol112233",'),
    ("generic_secret", "page_token = 'CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA'"),
    ("generic_secret", ".. _refresh token: https://tools.ietf.org/html/rfc6749#section-6"),
    ("generic_secret", "    oauth2client.client.OAuth2Credentials: _convert_oauth2_credentials,"),
    ("generic_secret", "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA"),
    ("generic_secret", "oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03&"),
]


@pytest.mark.parametrize("engine", ["re2", "re"])
@pytest.mark.parametrize(("rule", "text"), POSITIVES, ids=[f"{rule}-{i}" for i, (rule, _) in enumerate(POSITIVES)])
def test_true_positives(rule: str, text: str, engine: str) -> None:
    assert rule in _scan(text, engine)


@pytest.mark.parametrize("engine", ["re2", "re"])
@pytest.mark.parametrize(("rule", "text"), NEGATIVES, ids=[f"{rule}-{i}" for i, (rule, _) in enumerate(NEGATIVES)])
def test_false_positives(rule: str, text: str, engine: str) -> None:
    assert _scan(text, engine) == set()


def test_every_rule_has_true_and_false_positive_cases() -> None:
    for rule in DEFAULT_RULE_IDS:
        assert sum(r == rule for r, _ in POSITIVES) >= 1, rule
        assert sum(r == rule for r, _ in NEGATIVES) >= 1, rule


def test_findings_never_hold_the_secret() -> None:
    secret = "sk-ant-api03-" + R + R + "AA"
    findings = SecretScanner(SALT).scan(f"my key: {secret}\n")
    assert len(findings) == 1
    assert findings[0].offset == len("my key: ") and findings[0].line == 1
    for field in (findings[0].rule, findings[0].fingerprint):
        assert R[:8] not in field
    assert secret not in repr(findings)


def test_fingerprint_is_salted_truncated_and_stable() -> None:
    secret = "ghp_" + R[:36]
    one = SecretScanner(SALT).scan(secret)[0].fingerprint
    assert one == SecretScanner(SALT).scan(f"x = '{secret}'")[0].fingerprint  # same secret, same print
    assert one != SecretScanner(b"another-salt-0123456").scan(secret)[0].fingerprint
    assert len(one) == FINGERPRINT_HEX_CHARS and one == fingerprint(SALT, secret)
    # the same private key with real newlines and JSON-escaped ones is the same key
    assert fingerprint(SALT, f"{B64_LINE}\n{B64_LINE}") == fingerprint(SALT, f"{B64_LINE}\\n{B64_LINE}")


def test_short_salt_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SecretScanner(b"short")


def test_the_specific_rule_names_an_overlap() -> None:
    findings = SecretScanner(SALT).scan("api_key = 'sk-ant-api03-" + R + "'")
    assert [f.rule for f in findings] == ["anthropic_api_key"]


def test_entropy_rule_is_off_by_default_and_can_be_enabled() -> None:
    text = 'checksum = "' + R + R[:12] + '"'  # a high-entropy string with no credential shape
    assert "high_entropy_string" not in DEFAULT_RULE_IDS
    assert SecretScanner(SALT).scan(text) == ()
    opted_in = SecretScanner(SALT, rule_ids=[*DEFAULT_RULE_IDS, "high_entropy_string"])
    assert [f.rule for f in opted_in.scan(text)] == ["high_entropy_string"]


def test_unknown_rule_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown secret rule 'nope'"):
        SecretScanner(SALT, rule_ids=["nope"])


def test_offsets_are_characters_on_non_ascii_text() -> None:
    secret = "ghp_" + R[:36]
    text = "Ünïcödé → " * 3 + secret
    for engine in ("re2", "re"):
        (finding,) = SecretScanner(SALT, engine=engine).scan(text)  # type: ignore[arg-type]
        assert text[finding.offset:finding.offset + len(secret)] == secret


def test_rule_ids_are_unique() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)


def test_findings_per_text_are_capped_and_ordered() -> None:
    keys = "".join(f"AKIA{hashlib.sha256(str(i).encode()).hexdigest()[:16].upper()} " for i in range(5000))
    findings = SecretScanner(SALT).scan(keys)
    assert len(findings) == MAX_FINDINGS
    assert [f.offset for f in findings] == sorted(f.offset for f in findings) and findings[0].offset == 0


def test_overlaps_keep_the_higher_priority_rule_in_a_long_sequence() -> None:
    # alternating generic assignments holding provider keys, and plain generic ones
    parts = []
    for i in range(40):
        parts.append(f"api_key_{i} = 'ghp_{R[:30]}{i:06d}'\n" if i % 2 else f"db{i}_password = 'Zq8xK2{i:04d}mW9p'\n")
    findings = SecretScanner(SALT).scan("".join(parts))
    assert [f.rule for f in findings] == ["generic_secret", "github_token"] * 20


def test_a_megabyte_long_token_shape_is_not_a_token() -> None:
    assert SecretScanner(SALT).scan("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0." + R * 30_000) == ()


def test_a_specific_match_inside_a_generic_one_replaces_it() -> None:
    # the generic value starts first (at the URL), the database password inside it names the finding
    text = "\n".join(f"auth_token: postgresql://app:Zq8xK2{i:03d}mW9pQ@db.internal/x" for i in range(10))
    assert [f.rule for f in SecretScanner(SALT).scan(text)] == ["database_url"] * 10


def test_lone_surrogates_and_mixed_scripts_neither_raise_nor_shift_offsets() -> None:
    secret = "glpat-" + R[:20]
    text = "\ud800 日本語 \U0001f600 " + secret  # json.loads turns "\ud800" into a lone surrogate
    for engine in ("re2", "re"):
        (finding,) = SecretScanner(SALT, engine=engine).scan(text)  # type: ignore[arg-type]
        assert text[finding.offset:finding.offset + len(secret)] == secret
