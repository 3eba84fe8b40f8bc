"""Is a matched value a credential, or a placeholder, an expression or an example? Pure.

The regexes find credential *shapes*; these checks are where false positives on code are turned
away. They run only on matches (rare), so they may be written for clarity rather than speed.
Each rule names its check in :mod:`core.secrets.rules`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType

# Words that mark a documentation example or a template rather than a live credential. A random
# 30+ character token contains one of them by chance with a probability around 1e-5 or less.
_PLACEHOLDER_WORDS = ("EXAMPLE", "PLACEHOLDER", "XXXXXX", "YOUR_", "YOUR-", "REPLACE", "REDACTED", "DUMMY",
                      "CHANGEME", "CHANGE_ME", "INSERT", "FAKE", "SAMPLE", "<", ">", "{{", "}}", "${", "...", "***")

# Passwords that appear in documentation, tutorials and library docstrings, never as a real secret
# worth blocking a request for (SQLAlchemy's docs use scott:tiger throughout).
_DUMMY_PASSWORDS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "changeme", "tiger", "example", "test", "testing", "foo",
    "bar", "foobar", "dummy", "fake", "placeholder", "redacted", "mypassword", "yourpassword", "your_password",
    "user", "username", "pass123", "password123", "secret123", "hunter2", "s3cr3t", "p@ssw0rd", "p4ssw0rd",
})

# Well-known public examples (AWS's documentation key, jwt.io's sample token, …), kept as SHA-256 so
# that this file holds no credential-shaped text for a scanner, ours included, to trip on.
_PUBLIC_EXAMPLES = frozenset({
    "7f75367e7881255134e1375e723d1dea8ad5f6a4fdb79d938df1f1754a830606",  # jwt.io's HS256 sample token
    # The OAuth RFCs' example credentials, which libraries implementing them quote in their docstrings
    # RFC 5849 (OAuth 1.0) examples
    "293257ab6495ebb11cf9e4aee0686ca30df8de2ab8d251f2cbbcf177bdfcae91",
    "cb87c87e4a138d9a72259d2a01bab15623c9846e568c1509b287721645a6ea53",
    "4c20e6f5cc11b93731e74cbe20739821d61c3563c9f50ecb884a27cd369f01fb",
    "6aa14267d94944e6b6483c81f5ad37f87bbc7e88aa368d4aba1e71e0b79cd8c4",
    "5586407997f5e8492fa0d6d310460386c80cc3542de6c876f75582bc219d4b82",
    "bb9b1163338b2a51495834ad5c65420443d6327381cf0f94ebf92b117f209d72",
    "649e1f5c769e718ba10d1a702a36499a731441d960b06da91c4c97786bf84595",
    "80f8b7c904d4a43f3b7036db73247daafe15b3f647b337d19031ff67b7c1a177",
    "2ff8b0fb93aca981c78f1e94355c298c23435461f1072ef4674848e620371787",
    "b87dad10a32a2d81aa2e36e31e258b36ac0c3b07d1c1d5837185e206e17e3a06",
    "c20fbc2b96183894fb46187909d02afbef5b1b56398ece2a653745dbfb407553",
    # RFC 6749 (OAuth 2.0) examples
    "6c96130f130ab0d6d158397e24d2bcc1c9a5e73ae081f6e983f1c7b545d24a4c",
    "00cf4c781dc37003f7c7dd7d4c9a6ef1e0f4c62d9a291aa8bc398774e3fefd32",
    "a35b81a7d7927b70ec99270dd2362b88580a28574af812f2c02f56469579186f",
    "e9974c507d2a802143f614c878fcbb622a3800e05e6e0d329fee2c5b6b243329",
    # RFC 7009 (token revocation) example
    "ea9bdfd02c0c412c8cc36ba67f6c17f9b314b2c518e63ff3776077d68245736d",
    # RFC 6750 (bearer tokens) examples
    "b8e148545b13c78bc74da2f1a7275dd71e56ddece129d7d2f7b3ecc06f7994da",
    "a71b359a87afde133e6d9731de69f8823d62b012072d43749f5dc976505403f5",
})

MAX_TOKEN_CHARS = 16_384  # the longest JWTs (large claim sets) are a few KB
_DOTTED_NAME = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+")  # `os.environ`, `s3.secret-access-key`
# `OAuth2Token`, `SecretStr`: a type after `name:` in Python, not a YAML password
_CAMEL_NAME = re.compile(r"_?[A-Z]*(?:[A-Z][a-z]+|[0-9]+)+")
_CODE_CHARS = frozenset("()[]{}<>$\\")
_FORMAT = re.compile(r"%s|%\(\w*\)[sdr]")  # `%s`, `%(password)s`: a format string, not a value
_NUMBER = re.compile(r"[-+]?(?:0[xob])?[0-9a-fA-F_.]+")
# Names that end in a secret word but name something public (.NET's publicKeyToken, a CSRF token
# field's name, a token's type).
_NOT_SECRET_NAMES = ("public", "csrf", "xsrf")
# Tokens that are not credentials: pagination cursors (AWS's NextToken, Google's pageToken) and
# idempotency and change tokens (AWS's ClientRequestToken, ClientToken, ChangeToken…). AWS's API
# parameters are PascalCase: `ClientToken` is an idempotency key there, while a snake_case
# `client_token` (Vault's) is a credential.
_NOT_SECRET_TOKEN = re.compile(r"(?:next|page|continuation|pagination|idempotency|client[_-]?request)[_-]?token$",
                               re.IGNORECASE)
_NOT_SECRET_PASCAL_TOKEN = re.compile(r"(?:Client|Change|LifecycleAction)Token$")
# A UUID is an identifier (a request id, a change token); as a credential it is rare enough (some
# API keys) to be the price of not flagging every id in code and API examples.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# `token: https://…`: the value is the rest of a URL (a link target in documentation)
_URL_SCHEME_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:$")
# A value that names itself (`"test-secret-123"`, `"password1234"`) is a fixture, not a credential.
_SELF_NAMING = ("secret", "passw", "token", "credential", "test", "bench", "demo")


def is_public_example(value: str) -> bool:
    return hashlib.sha256(value.encode()).hexdigest() in _PUBLIC_EXAMPLES


def _has_placeholder_word(value: str) -> bool:
    upper = value.upper()
    return any(word in upper for word in _PLACEHOLDER_WORDS)


def _longest_run(value: str) -> int:
    longest = run = 1
    for previous, current in itertools.pairwise(value):
        run = run + 1 if current == previous else 1
        longest = max(longest, run)
    return longest if value else 0


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(count / total * math.log2(count / total) for count in Counter(value).values())


def token_like(value: str, whole: str = "") -> bool:
    """A provider token: not a placeholder (`sk-ant-api03-xxxxxxxx…`, `…EXAMPLE`), no long run of
    one character (random tokens have none; `"k" * 40` fixtures do), and no longer than any real
    token (a megabyte-long "JWT" is not one, and checking it would cost more than the scan)."""
    if len(value) > MAX_TOKEN_CHARS:
        return False
    return not _has_placeholder_word(value) and _longest_run(value) < 6 and not is_public_example(value)


def _dummy(value: str) -> bool:
    lowered = value.lower()
    if lowered in _DUMMY_PASSWORDS:
        return True
    # a documentation dummy with a short suffix: SQLAlchemy's `tiger^5HHH`, `password1`
    return any(lowered.startswith(word) and len(lowered) - len(word) <= 5 for word in _DUMMY_PASSWORDS
               if len(word) >= 4)


def password_like(value: str, whole: str = "") -> bool:
    """The password of a database URL: not a template variable, a documentation dummy, nor the
    user name again (`postgresql://app:app@…`)."""
    if not 3 <= len(value) <= 128 or value[0] in "${<[:" or _FORMAT.match(value):
        return False
    if _has_placeholder_word(value) or _dummy(value):
        return False
    if _longest_run(value) == len(value) or f"/{value}:{value}@" in whole:
        return False
    return not is_public_example(value)


def assigned_like(value: str, whole: str = "") -> bool:
    """The value of `password = …` / `secret: …`: a literal that looks like a credential, not an
    expression (`os.environ.get`, `self.token`, `get_token()`), a type (`_PasswordType`), a number
    (`0x00090320`), a placeholder or a plain word. Asks for a letter and a digit: generated secrets
    and human passwords have both; identifiers and prose mostly do not (a digit-free password is
    the price, see docs/guardrails.md)."""
    if len(value) > 128 or not password_like(value, whole) or any(char in _CODE_CHARS for char in value):
        return False
    if _FORMAT.search(value):
        return False
    if _DOTTED_NAME.fullmatch(value) or _NUMBER.fullmatch(value):
        return False
    if any(word in whole.lower() for word in _NOT_SECRET_NAMES):
        return False
    before = whole[: whole.rfind(value)]  # the name and the assignment
    name = before.rstrip(" \t\"'`:=>").split(":")[0].rstrip(" \t\"'`")
    if _NOT_SECRET_TOKEN.search(name) or _NOT_SECRET_PASCAL_TOKEN.search(name) or _UUID.fullmatch(value):
        return False
    if value.startswith("//") and _URL_SCHEME_BEFORE.search(before.rstrip()):
        return False
    if any(word in value.lower() for word in _SELF_NAMING):
        return False
    unquoted_annotation = not any(quote in whole for quote in "\"'`") and "=" not in whole
    if unquoted_annotation and _CAMEL_NAME.fullmatch(value):
        return False
    return any(char.isdigit() for char in value) and any(char.isalpha() for char in value)


def bearer_like(value: str, whole: str = "") -> bool:
    """An opaque bearer token: a token (no placeholder, no runs) with a letter and a digit, not a
    word (`Bearer authentication_required_here` is prose)."""
    return token_like(value) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def high_entropy(value: str, whole: str = "") -> bool:
    """Only for the opt-in entropy rule: base64-ish strings above 4.2 bits per character."""
    return shannon_entropy(value) >= 4.2 and token_like(value)


def _not_public_example(value: str, whole: str = "") -> bool:
    return not is_public_example(value)


CHECKS: Mapping[str, Callable[[str, str], bool]] = MappingProxyType({
    "any": _not_public_example,
    "token": token_like,
    "password": password_like,
    "assigned": assigned_like,
    "bearer": bearer_like,
    "entropy": high_entropy,
})
