"""The PHQ-9 over a case's assessments, as the geometry of a small SVG line chart
(``templates/web/phq9_chart.svg.j2`` draws it, on the server: no script, no image file).

Only geometry is computed here. The scale is the PHQ-9's range as the rule set declares it,
and each point's words (its band) are the ones its own stored decision derived.
"""

from __future__ import annotations

from typing import Any

from ..core.wording import value_words
from ..report.charts import scale, spread

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 48, 18, 30


def phq9(history: list[Any], ruleset: Any) -> dict[str, Any] | None:
    """Points (x, y, score, date, band words) and axis ticks, or None with no PHQ-9 at all."""
    policy = ruleset.policies
    fact = ruleset.facts[policy.severity["phq9"]]
    lo, hi = fact.range if fact.range else (0, max(a.decision["severity"].get("phq9") or 0 for a in history) or 1)
    band_field = next((f for f in policy.severity if f != "phq9"), None)
    band_fact = ruleset.facts.get(policy.severity[band_field]) if band_field else None
    scored = [a for a in history if a.decision["severity"].get("phq9") is not None]
    if not scored:
        return None
    y = scale(lo, hi, TOP, HEIGHT - TOP - BOTTOM)
    points = []
    for x, a in zip(spread(len(scored), LEFT, WIDTH - LEFT - RIGHT), scored):
        band = a.decision["severity"].get(band_field) if band_field else None
        points.append(
            {
                "x": x,
                "y": y(a.decision["severity"]["phq9"]),
                "score": a.decision["severity"]["phq9"],
                "date": a.intake.get("assessed_on", a.created_at[:10]),
                "id": a.id,
                "band": value_words(band, band_fact) if band is not None and band_fact is not None else "",
            }
        )
    ticks = sorted({lo, hi, *range(lo, hi + 1, max(1, (hi - lo) // 3))})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "ticks": [{"value": t, "y": y(t)} for t in ticks],
        "label": fact.label,
    }
