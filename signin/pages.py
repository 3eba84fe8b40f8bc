"""The verification page's HTML: enter the code, approve the sign-in, the outcome. No script at all (so
nothing can submit a form on the human's behalf, RFC 8628 §5.4); every value shown is escaped; the
page may not be framed, and its forms may post only here and to the IdP."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from core.identity.claims import Identity

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}"
          "input{font:1.4rem monospace;letter-spacing:.15em;padding:.3rem;width:11rem;text-transform:uppercase}"
          "button{font-size:1rem;padding:.4rem 1rem;margin:.6rem .6rem 0 0}.error{color:#a00}"
          "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#666}")


def security_headers(idp_origin: str) -> list[tuple[bytes, bytes]]:
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {idp_origin}; "
              "frame-ancestors 'none'; base-uri 'none'")
    return [(b"content-security-policy", policy.encode()), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer")]


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()


def _error(error: str | None) -> str:
    return f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""


def enter_code(prefill: str = "", error: str | None = None) -> bytes:
    """The code form. A code from the link is filled in but never submitted for the human: they
    compare it with their terminal and press the button."""
    return _page("Sign in to Claude Code", f"""{_error(error)}
<p>Enter the code your terminal shows. Only continue if you ran <code>/login</code> yourself just now.</p>
<form method="post" action="/device">
  <label>Code <input name="user_code" value="{html.escape(prefill)}" autocomplete="off" autocapitalize="characters"
    spellcheck="false" maxlength="16" required></label><br>
  <button type="submit">Continue to sign in</button>
  <button type="submit" formaction="/device/deny">This was not me</button>
</form>""")


def _when(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).strftime("%H:%M:%S UTC")


def approve(identity: Identity, user_code: str, approval: str, requested_at: datetime,
            requested_from: str | None) -> bytes:
    groups = ", ".join(identity.groups) if identity.groups else "none"
    return _page("Approve this sign-in?", f"""
<p>You signed in at your company's identity provider. Approve only if the code below is the one in your
terminal, and you asked for it.</p>
<dl><dt>Code</dt><dd><code>{html.escape(user_code)}</code></dd>
<dt>Signed in as</dt><dd>{html.escape(identity.developer)}</dd>
<dt>Groups</dt><dd>{html.escape(groups)}</dd>
<dt>Requested</dt><dd>{html.escape(_when(requested_at))} from {html.escape(requested_from or "an unknown address")}
</dd></dl>
<form method="post" action="/device/approve">
  <input type="hidden" name="user_code" value="{html.escape(user_code)}">
  <input type="hidden" name="approval" value="{html.escape(approval)}">
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>""")


def outcome(title: str, message: str) -> bytes:
    return _page(title, f"<p>{html.escape(message)}</p>")


def failure(title: str, message: str, retry: bool = False) -> bytes:
    again = "<p><a href='/device'>Enter a code again</a></p>" if retry else ""
    return _page(title, f"<p class='error' role='alert'>{html.escape(message)}</p>{again}")
