"""Sample splitting by session: choose the candidate on one part of the window's sessions, certify it
on the other.

The search judges thousands of candidates on one sample and keeps the cheapest that clears the
quality floor. Judged on that same sample, the winner's interval is biased the way the search went
(the winner's curse): the candidate that looks best is, more often than not, one whose noise
happened to flatter it, and on a world built outside the project the in-sample interval excluded the
true quality change (issue 16). So the window's sessions are split by a seeded hash of the session
id: the *selection* part feeds the outcome model and the search, the *held-out* part is used only to
certify the one candidate picked — its guards (effective sample size, the quality interval against
the floor) and the saving and quality change the proposal claims. On the held-out sessions the
candidate is a fixed policy, so its interval means what it says. Whole sessions go to one side,
since a session's turns are not independent (optimizer.bootstrap). Pure (hashlib, numpy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def held_out_sessions(session_ids: Sequence[str | None], *, seed: int, share: float) -> np.ndarray:
    """Per turn: whether its session is in the held-out part (about ``share`` of the sessions),
    by a hash of (seed, session id): the same data and seed give the same split, whatever the turns'
    order. A turn without a session id is a session of its own (keyed by its position)."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the held-out share must be in [0, 1), not {share}")
    held = np.zeros(len(session_ids), dtype=bool)
    if share == 0.0:
        return held
    cut = int(share * 2**64)
    memo: dict[str, bool] = {}
    for index, session in enumerate(session_ids):
        key = session if session is not None else f"\x00turn:{index}"
        found = memo.get(key)
        if found is None:
            digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
            found = memo[key] = int.from_bytes(digest, "big") < cut
        held[index] = found
    return held
