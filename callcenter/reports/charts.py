"""Charts of the reports page, drawn on the server as SVG (pure; no script, no CDN).

Two kinds: :func:`bars` (calls offered and answered per row, side by side) and :func:`lines`
(rates per row against a target line). Every text is XML-escaped; the SVG has a ``<title>``
per bar or point so a hover shows the figure, and ``role="img"`` with a label for readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["Series", "bars", "lines"]

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 14, 38


@dataclass(frozen=True, slots=True)
class Series:
    """A named run of values (None: no data), drawn in ``colour``."""

    name: str
    values: Sequence[float | None]
    colour: str


def _frame(label: str, body: list[str], legend: Sequence[Series]) -> str:
    items = []
    x = LEFT
    for s in legend:
        items.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{s.colour}"/>'
                     f'<text x="{x + 14}" y="11" font-size="11">{escape(s.name)}</text>')
        x += 24 + sum(7 if ord(ch) < 128 else 12 for ch in s.name)  # CJK is wider
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'class="chart" role="img" aria-label="{escape(label)}">'
            f'{"".join(items)}{"".join(body)}</svg>')


def _axis(labels: Sequence[str], top: float, fmt: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
           f'y2="{HEIGHT - BOTTOM}" stroke="#888"/>']
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                   f'stroke="#eee"/><text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{fmt.format(value)}</text>')
    step = max(1, len(labels) // 12)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, text in enumerate(labels):
        if i % step == 0:
            x = LEFT + slot * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
                       f'text-anchor="middle">{escape(text)}</text>')
    return out


def bars(label: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """Grouped bars, one group per label."""
    top = max([v for s in series for v in s.values if v is not None] + [1.0])
    top = _nice(top)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    width = slot * 0.8 / max(len(series), 1)
    body = _axis(labels, top, "{:.0f}")
    for j, s in enumerate(series):
        for i, value in enumerate(s.values):
            if not value:
                continue
            h = plot_h * value / top
            x = LEFT + slot * i + slot * 0.1 + width * j
            body.append(f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{width:.1f}" '
                        f'height="{h:.1f}" fill="{s.colour}"><title>{escape(labels[i])} '
                        f'{escape(s.name)}: {value:g}</title></rect>')
    return _frame(label, body, series)


def lines(label: str, labels: Sequence[str], series: Sequence[Series],
          target: float | None = None) -> str:
    """Rates (0..1) as lines with points; ``target`` as a dashed line."""
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axis(labels, 1.0, "{:.0%}")
    if target is not None:
        y = HEIGHT - BOTTOM - plot_h * target
        body.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                    f'stroke="#c00" stroke-dasharray="4 3"><title>target {target:.0%}</title>'
                    f'</line>')
    for s in series:
        points = [(LEFT + slot * (i + 0.5), HEIGHT - BOTTOM - plot_h * v, v, labels[i])
                  for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{s.colour}" '
                        f'stroke-width="2"/>')
        for x, y, v, text in points:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s.colour}">'
                        f'<title>{escape(text)} {escape(s.name)}: {v:.1%}</title></circle>')
    return _frame(label, body, series)


def _nice(top: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``top`` (round axis labels)."""
    scale = 1.0
    while scale * 10 < top:
        scale *= 10
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if scale * factor >= top:
            return scale * factor
    return scale * 10
