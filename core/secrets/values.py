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
# A value that names itself (`"test-secret-123"`, `"password1234"`) is a fixture, not a credential.
_SELF_NAMING = ("secret", "passw", "token", "test", "bench", "demo")


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
