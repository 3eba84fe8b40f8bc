"""The candidates the optimizer's search judged, cost against quality: each judged candidate (when the
evidence stores them), the active policy at (its cost, 0), the proposal with its quality interval,
and the allowed margin as a line the interval's low end must stay above. Pure: from the stored
evidence (optimizer.evidence); None when it holds too little to draw (no costs).

A judged candidate is a mapping in ``evidence["candidates"]``: ``monthly_cost_usd`` (or
``delta_monthly_cost_usd``, relative to the active policy), and ``delta_quality`` (a number or
{value, …}; or ``quality``, absolute, taken relative to the active policy's DR estimate),
optionally ``feasible`` (bool: whether it met the quality floor in the search).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.io as pio

from dashboard.figures.style import PALETTE, base_layout

TITLE = "Candidates the search judged: monthly cost against Δ quality"
MAX_POINTS = 2_000  # a scatter a browser draws at once; the optimizer's list is bounded well below


def _num(value: object) -> float | None:
    if isinstance(value, Mapping):
        value = value.get("value")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def candidate_point(point: Mapping[str, Any], active_cost: float, active_quality: float | None
                    ) -> tuple[float, float] | None:
    """(monthly cost, Δ quality) of one judged candidate, or None when it lacks either."""
    cost = _num(point.get("monthly_cost_usd"))
    if cost is None and (delta_cost := _num(point.get("delta_monthly_cost_usd"))) is not None:
        cost = active_cost + delta_cost
    quality = _num(point.get("delta_quality"))
    if quality is None and active_quality is not None and (absolute := _num(point.get("quality"))) is not None:
        quality = absolute - active_quality
    return None if cost is None or quality is None else (cost, quality)


def _scatter(name: str, xs: list[float], ys: list[float], marker: dict[str, Any], hover: str,
             **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "name": name, "x": xs, "y": ys, "marker": marker,
            "hovertemplate": hover + "<extra></extra>", **extra}


def candidates_figure(evidence: Mapping[str, Any]) -> dict[str, Any] | None:
    """The figure as plain JSON: a go.Figure validates every property on the way in, which costs this
    page a few hundred milliseconds for a scatter of a few hundred points."""
    active_cost = _num(_map(evidence.get("baseline")).get("monthly_cost_usd"))
    proposal_cost = _num(_map(evidence.get("candidate")).get("monthly_cost_usd"))
    quality = _map(evidence.get("delta_quality"))
    proposal_quality = _num(quality)
    if active_cost is None or proposal_cost is None or proposal_quality is None:
        return None
    active_quality = _num(_map(evidence.get("baseline")).get("quality_dr"))
    judged = evidence.get("candidates")
    rows = [p for p in judged[:MAX_POINTS] if isinstance(p, Mapping)] if isinstance(judged, list) else []
    placed = [(candidate_point(p, active_cost, active_quality), p.get("feasible", True) is not False) for p in rows]
    traces = []
    for label, wanted, colour in (("judged, met the floor", True, PALETTE[4]),
                                  ("judged, below the floor", False, "#bbbbbb")):
        shown = [p for p, ok in placed if p is not None and ok == wanted]
        if shown:
            traces.append(_scatter(label, [p[0] for p in shown], [p[1] for p in shown],
                                   {"color": colour, "size": 6, "opacity": 0.7},
                                   "$%{x:,.2f} a month, Δ quality %{y:+.4f}"))
    low, high = _num(quality.get("low")), _num(quality.get("high"))
    error = ({"type": "data", "symmetric": False, "array": [high - proposal_quality],
              "arrayminus": [proposal_quality - low]} if low is not None and high is not None else {"visible": False})
    traces.append(_scatter("active policy", [active_cost], [0.0], {"color": PALETTE[0], "size": 12, "symbol": "square"},
                           "active: $%{x:,.2f} a month"))
    traces.append(_scatter("proposal", [proposal_cost], [proposal_quality],
                           {"color": PALETTE[1], "size": 13, "symbol": "diamond"},
                           "proposal: $%{x:,.2f} a month, Δ quality %{y:+.4f}", error_y=error))
    layout = base_layout(TITLE, height=380, xaxis={"title": {"text": "replayed cost, $ a month"}, "tickprefix": "$"},
                         yaxis={"title": {"text": "Δ quality vs the active policy"}, "tickformat": "+.3f"},
                         template={"layout": pio.templates["plotly_white"].layout.to_plotly_json()})
    margin = _num(evidence.get("quality_margin"))
    if margin is not None:
        layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": -margin,
                             "y1": -margin, "line": {"dash": "dash", "color": "#c62828", "width": 1}}]
        layout["annotations"] = [{"xref": "paper", "x": 0, "yref": "y", "y": -margin, "xanchor": "left",
                                  "yanchor": "top", "showarrow": False, "text": f"allowed margin −{margin:.4f}",
                                  "font": {"color": "#c62828", "size": 11}}]
    return {"data": traces, "layout": layout}


def has_judged_candidates(evidence: Mapping[str, Any]) -> bool:
    judged = evidence.get("candidates")
    return isinstance(judged, list) and any(isinstance(p, Mapping) for p in judged)
