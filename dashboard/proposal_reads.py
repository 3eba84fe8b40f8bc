"""The Proposals page's list read: the newest proposals without their candidate documents and diffs,
and of their evidence only the figures the list shows. A proposal's evidence can hold hundreds of
judged candidates and per-segment figures; reading all of it for every listed proposal cost the page
more than everything else it does. The proposal a reviewer opens is read whole (store.proposals)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from store.proposals import Proposal
from store.schema import policy_proposals

LISTED_EVIDENCE = ("delta_monthly_cost_usd", "delta_quality", "turns")
_COLUMNS = ("id", "parent_version", "candidate_version", "status", "created_at", "created_by", "decided_at",
            "decided_by", "note")


def listed_proposals(engine: Engine, *, limit: int) -> list[Proposal]:
    """Newest first, at most ``limit``; ``document`` and ``diff`` empty, ``evidence`` holding only
    LISTED_EVIDENCE (the fields it has of them)."""
    table = policy_proposals.c
    figures = [table.evidence[key].label(f"evidence_{key}") for key in LISTED_EVIDENCE]
    query = (select(*(table[name] for name in _COLUMNS), *figures)
             .order_by(table.created_at.desc(), table.id).limit(limit))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    listed = []
    for row in rows:
        values = row._mapping
        evidence = {key: values[f"evidence_{key}"] for key in LISTED_EVIDENCE if values[f"evidence_{key}"] is not None}
        listed.append(Proposal(row.id, row.parent_version, row.candidate_version, {}, {}, evidence, row.status,
                               row.created_at, row.created_by, row.decided_at, row.decided_by, row.note))
    return listed
