"""The proxy's one upstream seam: a request in, status + headers + an Anthropic-shaped byte stream
out, one implementation per provider kind (seam.py has the protocol; docs/providers/ the kinds)."""
