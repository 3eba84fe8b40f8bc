"""Realistic fake secrets, one generator per rule, each in the kind of context a tool result or a
pasted prompt carries (an .env file, a JSON config, CLI output, Python code). Seeded: the same seed
gives the same corpus. Shared by the recall tests and bench/secret_scan.py.

Nothing here is a real credential: every value is drawn from a seeded random generator.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
BASE32 = string.ascii_uppercase + "234567"


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _password(rng: random.Random, n: int = 16) -> str:
    """A generated password: letters, at least two digits, maybe a symbol."""
    chars = [rng.choice(string.ascii_letters) for _ in range(n - 3)] + [rng.choice(string.digits) for _ in range(2)]
    chars.append(rng.choice("!#%^*-_+=~" + string.digits))
    rng.shuffle(chars)
    return "".join(chars)


def _pem_body(rng: random.Random, lines: int) -> list[str]:
    raw = bytes(rng.getrandbits(8) for _ in range(48 * lines))
    encoded = base64.b64encode(raw).decode()
    return [encoded[i:i + 64] for i in range(0, len(encoded), 64)]


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
    body = _pem_body(rng, rng.randint(5, 25))
    headers = ["Proc-Type: 4,ENCRYPTED", f"DEK-Info: AES-128-CBC,{_draw(rng, HEX.upper(), 32)}", ""] \
        if kind == "RSA " and rng.random() < 0.3 else []
    pem = "\n".join([f"-----BEGIN {kind}PRIVATE KEY-----", *headers, *body, f"-----END {kind}PRIVATE KEY-----"])
    if rng.random() < 0.3:  # as a JSON string (escaped newlines), e.g. a config file a tool printed
        return json.dumps({"tls": {"key": pem + "\n"}}, indent=2)
    return f"$ cat ~/.ssh/id_{kind.strip().lower() or 'key'}\n{pem}\n"


def anthropic_api_key(rng: random.Random) -> str:
    key = f"sk-ant-{rng.choice(['api03', 'admin01'])}-{_draw(rng, URLSAFE, 93)}AA"
    return rng.choice([f"ANTHROPIC_API_KEY={key}", f'client = Anthropic(api_key="{key}")',
                       f"export ANTHROPIC_API_KEY='{key}'", f"my key is {key} can you check it"])


def openai_api_key(rng: random.Random) -> str:
    key = rng.choice([f"sk-proj-{_draw(rng, URLSAFE, 74)}T3BlbkFJ{_draw(rng, URLSAFE, 74)}",
                      f"sk-{_draw(rng, ALNUM, 20)}T3BlbkFJ{_draw(rng, ALNUM, 20)}",
                      f"sk-svcacct-{_draw(rng, URLSAFE, 60)}"])
    return rng.choice([f"OPENAI_API_KEY={key}", f'openai.api_key = "{key}"', f'{{"openai": {{"key": "{key}"}}}}'])


def aws_access_key_id(rng: random.Random) -> str:
    key = rng.choice(["AKIA", "ASIA"]) + _draw(rng, BASE32, 16)
    return rng.choice([f"aws_access_key_id = {key}", f'"AccessKeyId": "{key}",', f"AWS_ACCESS_KEY_ID={key}"])


def aws_secret_access_key(rng: random.Random) -> str:
    secret = _draw(rng, B64, 40)
    return rng.choice([f"[default]\naws_secret_access_key = {secret}\n", f'    "SecretAccessKey": "{secret}",',
                       f"export AWS_SECRET_ACCESS_KEY={secret}", f"aws_secret_key: '{secret}'"])


def github_token(rng: random.Random) -> str:
    token = rng.choice([f"ghp_{_draw(rng, ALNUM, 36)}", f"gho_{_draw(rng, ALNUM, 36)}",
                        f"ghs_{_draw(rng, ALNUM, 36)}",
                        f"github_pat_{_draw(rng, ALNUM, 22)}_{_draw(rng, ALNUM, 59)}"])
    return rng.choice([f"GITHUB_TOKEN={token}", f"git remote set-url origin https://{token}@github.com/acme/app.git",
                       f'  token: "{token}"'])


def gitlab_token(rng: random.Random) -> str:
    token = rng.choice([f"glpat-{_draw(rng, URLSAFE, 20)}", f"glrt-{_draw(rng, URLSAFE, 20)}",
                        f"gldt-{_draw(rng, URLSAFE, 20)}"])
    return rng.choice([f"CI_JOB_TOKEN={token}", f"curl --header 'PRIVATE-TOKEN: {token}' https://gitlab.example.com"])


def slack_token(rng: random.Random) -> str:
    digits = string.digits
    token = rng.choice([
        f"xoxb-{_draw(rng, digits, 12)}-{_draw(rng, digits, 13)}-{_draw(rng, ALNUM, 24)}",
        f"xoxp-{_draw(rng, digits, 12)}-{_draw(rng, digits, 12)}-{_draw(rng, digits, 13)}-{_draw(rng, HEX, 32)}",
        f"xapp-1-A{_draw(rng, BASE32, 10)}-{_draw(rng, digits, 13)}-{_draw(rng, HEX, 64)}",
    ])
    return rng.choice([f"SLACK_BOT_TOKEN={token}", f'slack_client = WebClient(token="{token}")'])


def slack_webhook(rng: random.Random) -> str:
    url = (f"https://hooks.slack.com/services/T{_draw(rng, BASE32, 8)}/B{_draw(rng, BASE32, 10)}/"
           f"{_draw(rng, ALNUM, 24)}")
    return rng.choice([f"SLACK_WEBHOOK_URL={url}", f'requests.post("{url}", json=payload)'])


def stripe_key(rng: random.Random) -> str:
    key = rng.choice([f"sk_live_{_draw(rng, ALNUM, 99)}", f"rk_live_{_draw(rng, ALNUM, 24)}",
                      f"sk_test_{_draw(rng, ALNUM, 24)}", f"whsec_{_draw(rng, ALNUM, 32)}"])
    return rng.choice([f"STRIPE_SECRET_KEY={key}", f"stripe.api_key = '{key}'"])


def google_api_key(rng: random.Random) -> str:
    key = "AIza" + _draw(rng, URLSAFE, 35)
    return rng.choice([f"GOOGLE_API_KEY={key}", f"https://maps.googleapis.com/maps/api/geocode/json?key={key}"])


def google_oauth_client_secret(rng: random.Random) -> str:
    secret = "GOCSPX-" + _draw(rng, URLSAFE, 28)
    return json.dumps({"installed": {"client_id": f"{_draw(rng, string.digits, 12)}.apps.googleusercontent.com",
                                     "client_secret": secret}})


def google_service_account(rng: random.Random) -> str:
    pem = "\n".join(["-----BEGIN PRIVATE KEY-----", *_pem_body(rng, 20), "-----END PRIVATE KEY-----"]) + "\n"
    project = "acme-" + _draw(rng, string.ascii_lowercase, 6)
    return json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": _draw(rng, HEX, 40),
        "private_key": pem, "client_email": f"deployer@{project}.iam.gserviceaccount.com",
        "client_id": _draw(rng, string.digits, 21), "token_uri": "https://oauth2.googleapis.com/token",
    }, indent=2)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    claims = {"sub": _draw(rng, HEX, 24), "iat": rng.randint(1_700_000_000, 1_800_000_000),
              "email": f"{_draw(rng, string.ascii_lowercase, 6)}@acme.dev", "role": "admin"}
    token = f"{header}.{_b64url(json.dumps(claims).encode())}.{_draw(rng, URLSAFE, rng.choice([43, 342]))}"
    return rng.choice([f"Authorization: Bearer {token}", f'{{"access_token": "{token}", "expires_in": 3600}}'])


def bearer_token(rng: random.Random) -> str:
    token = rng.choice([_draw(rng, ALNUM, 40), f"ya29.{_draw(rng, URLSAFE, 120)}", _draw(rng, HEX, 64),
                        f"{_draw(rng, ALNUM, 8)}.{_draw(rng, ALNUM, 32)}"])
    return rng.choice([f"curl -H 'Authorization: Bearer {token}' https://api.acme.dev/v1/orders",
                       f'headers = {{"Authorization": "Bearer {token}"}}', f"authorization: bearer {token}"])


def database_url(rng: random.Random) -> str:
    password = _password(rng, rng.randint(12, 24))
    host = rng.choice(["db.internal", "10.0.3.17", "prod-pg.c9akciq32.eu-west-1.rds.amazonaws.com"])
    url = rng.choice([f"postgresql://app:{password}@{host}:5432/orders",
                      f"postgresql+psycopg://svc_orders:{password}@{host}/orders",
                      f"mysql://root:{password}@{host}:3306/shop",
                      f"mongodb+srv://admin:{password}@cluster0.abcde.mongodb.net/test",
                      f"redis://:{password}@{host}:6379/0"])
    return rng.choice([f"DATABASE_URL={url}", f'engine = create_engine("{url}")', f"  url: {url}"])


def generic_secret(rng: random.Random) -> str:
    value = _password(rng, rng.randint(10, 32))
    return rng.choice([f"DB_PASSWORD={value}", f'"client_secret": "{value}",', f"api_key = '{value}'",
                       f"  password: {value}", f'SECRET_KEY = "{value}"', f"smtp_passwd={value}",
                       f'    password: str = "{value}"', f"export AUTH_TOKEN={value}"])


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    function.__name__: function for function in (
        private_key, anthropic_api_key, openai_api_key, aws_access_key_id, aws_secret_access_key, github_token,
        gitlab_token, slack_token, slack_webhook, stripe_key, google_api_key, google_oauth_client_secret,
        google_service_account, jwt, bearer_token, database_url, generic_secret)
}


def planted(seed: int, per_rule: int) -> list[tuple[str, str]]:
    """(rule id expected, text) pairs: ``per_rule`` fakes of every rule."""
    rng = random.Random(seed)
    return [(rule, generate(rng)) for rule, generate in GENERATORS.items() for _ in range(per_rule)]


# -- ordinary source files: the false-positive corpus -------------------------------------------------

SOURCE_SUFFIXES = frozenset({".py", ".pyi", ".md", ".rst", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini",
                             ".txt", ".sh", ".js", ".ts", ".html", ".css", ".sql"})
# Test suites and fixtures hold fake keys on purpose (this project's tests/ does, and sim/'s
# fake_credentials.py, what the fake Bedrock and Vertex accept): they are counted apart, never as
# "ordinary source".
TEST_PARTS = frozenset({"tests", "test", "testing", "fixtures", "testdata"})
FIXTURE_STEMS = ("fake_", "fixture")
PROJECT_DIRS = ("core", "proxy", "ingest", "store", "serving", "evals", "optimizer", "dashboard", "sim",
                "switchyard", "bench", "scripts", "docs", "notebooks")
# A fixed sample of installed packages for the bounded test (each: every source file, sorted).
PACKAGE_SAMPLE = ("sqlalchemy", "pydantic", "aiohttp", "httpx", "fastapi", "starlette", "yaml", "alembic", "redis",
                  "psycopg", "uvicorn", "optuna", "werkzeug", "jinja2", "click", "rich", "requests", "urllib3")


def is_test_path(path: Path) -> bool:
    return any(part in TEST_PARTS or part.startswith("test_") for part in path.parts) or path.stem.startswith(
        FIXTURE_STEMS)


def source_files(root: Path, *, tests: bool | None = False, max_file_chars: int = 2_000_000) -> list[Path]:
    """Text source files under ``root``, sorted: only test files when ``tests``, none when False,
    all when None."""
    chosen = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or "__pycache__" in path.parts:
            continue
        if tests is not None and is_test_path(path.relative_to(root)) != tests:
            continue
        if path.stat().st_size <= max_file_chars:
            chosen.append(path)
    return chosen


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
