"""Where the pages link to one another (a turn, a session's timeline, a failure cluster), and the
same links as Markdown for grid cells.

Session ids, repo and developer names are what a client sent (its word): every value goes into a
query string percent-encoded, and into Markdown link text with every Markdown character escaped,
so a crafted id can neither break out of its link nor add one.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

TURN_PATH = "/turn"
SESSIONS_PATH = "/sessions"
FAILURES_PATH = "/failures"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def turn_href(trace_id: str, span_id: str) -> str:
    return f"{TURN_PATH}?{urlencode({'trace': trace_id, 'span': span_id})}"


def session_href(session_id: str) -> str:
    return f"{SESSIONS_PATH}?{urlencode({'session': session_id})}"


def cluster_href(run_id: str, cluster: int) -> str:
    return f"{FAILURES_PATH}?{urlencode({'run': run_id, 'cluster': cluster})}"


def markdown_text(text: str) -> str:
    """``text`` shown literally by a Markdown renderer (line breaks become spaces)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def markdown_link(text: str, href: str) -> str:
    # hrefs are built above from percent-encoded values: no space, parenthesis or bracket survives
    return f"[{markdown_text(text)}]({href})"
