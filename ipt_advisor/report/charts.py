"""The geometry of small SVG charts (bars, lines); templates draw them, no script runs.

Only numbers are computed here, rounded to one decimal so the same data gives the same
bytes; words (titles, labels) are the caller's and reach the SVG as escaped text. Used by
the audit dashboard (``templates/audit_charts.html.j2``) and the web app's PHQ-9 chart
(:mod:`ipt_advisor.web.chart`), which shares :func:`scale` and :func:`spread`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

BAR_INNER = 300  # the longest bar
BAR_TEXT = 130  # room for the value text after a bar
BAR_ROW = 22
CHAR = 7.6  # about one character of an 11 px sans-serif label, capitals included (the label column)
VALUE_CHAR = 6.2  # about one character of a value text (digits, lower case)
LINE_WIDTH, LINE_HEIGHT = 560, 200
LINE_LEFT, LINE_RIGHT, LINE_TOP, LINE_BOTTOM = 44, 30, 14, 40


def scale(lo: float, hi: float, top: float, height: float) -> Callable[[float], float]:
    """value -> y: ``hi`` at ``top``, ``lo`` at ``top + height`` (SVG's y grows downwards)."""
    return lambda value: round(top + height * (1 - (value - lo) / (hi - lo or 1)), 1)


def spread(count: int, left: float, width: float) -> list[float]:
    """x of ``count`` points spread evenly over ``width`` (one point: in the middle)."""
    if count == 1:
        return [round(left + width / 2, 1)]
    step = width / max(1, count - 1)
    return [round(left + step * n, 1) for n in range(count)]


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (an axis end)."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for m in (1, 2, 5, 10):
        if m * magnitude >= value:
            return m * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def bars(title: str, rows: Sequence[tuple[str, float, str, str]], *, maximum: float | None = None) -> dict[str, Any]:
    """A horizontal bar chart: ``rows`` are (label, value, the text printed after the bar,
    a CSS class such as a flag level, or ""). ``maximum`` fixes the scale (100 for percents)."""
    top = max([maximum or 0, *(v for _, v, _, _ in rows)]) or 1
    left = round(min(320, 12 + CHAR * max((len(label) for label, _, _, _ in rows), default=4)))
    # a long value text ("50.0 % (1 of 2 EHR cards)") gets the room it needs, never less than BAR_TEXT
    room = max(BAR_TEXT, round(12 + VALUE_CHAR * max((len(text) for _, _, text, _ in rows), default=0)))
    out = []
    for n, (label, value, text, css) in enumerate(rows):
        out.append(
            {
                "label": label,
                "text": text,
                "css": css,
                "y": n * BAR_ROW + 4,
                "w": round(BAR_INNER * value / top, 1) if value else 0.0,
            }
        )
    return {
        "kind": "bars",
        "title": title,
        "width": left + BAR_INNER + room,
        "height": len(rows) * BAR_ROW + 8,
        "left": left,
        "row": BAR_ROW,
        "rows": out,
    }


def lines(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, percent: bool = False
) -> dict[str, Any]:
    """A line chart over ``labels`` (e.g. months): each series is (name, one value or None
    per label); a None breaks the line. Percent charts run 0-100, others 0 to a round maximum."""
    values = [v for _, vs in series for v in vs if v is not None]
    hi = 100.0 if percent else _nice_max(max(values, default=0))
    inner_w = LINE_WIDTH - LINE_LEFT - LINE_RIGHT
    inner_h = LINE_HEIGHT - LINE_TOP - LINE_BOTTOM
    y = scale(0, hi, LINE_TOP, inner_h)
    xs = spread(len(labels), LINE_LEFT, inner_w)
    drawn = []
    for number, (name, vs) in enumerate(series):
        segments: list[list[tuple[float, float]]] = [[]]
        points = []
        for x, v in zip(xs, vs):
            if v is None:
                segments.append([])
                continue
            segments[-1].append((x, y(v)))
            points.append({"x": x, "y": y(v), "value": v})
        drawn.append(
            {
                "name": name,
                "n": number,
                "points": points,
                "paths": [" ".join(f"{px},{py}" for px, py in s) for s in segments if len(s) > 1],
            }
        )
    ticks = [hi * k / 4 for k in range(5)]
    every = max(1, -(-len(labels) // 7))  # at most 7 x labels: a YYYY-MM label is ~45 px wide
    return {
        "kind": "lines",
        "title": title,
        "width": LINE_WIDTH,
        "height": LINE_HEIGHT,
        "left": LINE_LEFT,
        "right": LINE_WIDTH - LINE_RIGHT,
        "bottom": LINE_TOP + inner_h,
        "percent": percent,
        "ticks": [{"value": round(t, 1), "y": y(t)} for t in ticks],
        "labels": [{"text": label, "x": x} for n, (label, x) in enumerate(zip(labels, xs)) if n % every == 0],
        "series": drawn,
    }
