"""Claude Code's sign-in through the company's IdP (the OAuth side of the gateway protocol):
discovery, device authorization, the verification page, tokens, revocation. Served on the proxy's
base URL (the proxy dispatches these paths here); keeps its state in the store."""
