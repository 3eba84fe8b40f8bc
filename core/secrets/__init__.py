"""Egress secret scanning (issue 21), pure: rules (data) → engine (RE2) → scan (findings with salted
fingerprints, never the secret); blocks (what of a Messages request is scanned) → seen (per-session
memory) → incremental (scan_request, the proxy's entry point). See docs/guardrails.md."""
