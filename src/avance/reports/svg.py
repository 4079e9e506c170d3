"""Charts drawn on the server as SVG markup: a bar chart (grouped or stacked), a line chart over
periods and a histogram. Pure functions returning a string, for the pages to put inline.

- Accessible: ``role="img"``, ``aria-labelledby`` pointing at a ``<title>`` and a ``<desc>``, and a
  ``<title>`` on every bar and point (its label and value, shown on hover).
- No ``style`` attribute and no ``<style>`` element (the pages' Content Security Policy forbids inline
  styles): shapes carry presentation attributes (``fill``, ``stroke``) only where the page cannot
  do better, and CSS classes the page stylesheet defines: ``chart``, ``chart-axis``,
  ``chart-grid``, ``chart-label``, ``chart-bar``, ``chart-line``, ``chart-point``, plus the class
  the caller gives each series (e.g. ``lane-green``).
- Every text is escaped; labels come in already translated and numbers already formatted by the
  caller (``value_text``), so that the chart speaks the reader's language.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 40


@dataclass(frozen=True)
class Series:
    """One series of values (None: no value), its translated label and its CSS class."""

    label: str
    values: Sequence[float | None]
    css: str = ""


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _nice_max(value: float) -> float:
    """A round top for the value axis (1, 2, 2.5 or 5 times a power of ten) at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _open(chart_id: str, title: str, desc: str, width: int, height: int, kind: str) -> list[str]:
    cid = _text(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc">',
        f'<title id="{cid}-title">{_text(title)}</title>',
        f'<desc id="{cid}-desc">{_text(desc)}</desc>',
    ]


def _value_axis(top: float, width: int, height: int, value_text: Callable[[float], str], ticks: int = 4) -> list[str]:
    parts = []
    plot_h = height - _TOP - _BOTTOM
    for i in range(ticks + 1):
        value = top * i / ticks
        y = height - _BOTTOM - plot_h * i / ticks
        parts.append(f'<line class="chart-grid" x1="{_LEFT}" y1="{_num(y)}" x2="{width - _RIGHT}" y2="{_num(y)}" stroke="currentColor" stroke-opacity="0.15"/>')
        parts.append(f'<text class="chart-label" x="{_LEFT - 6}" y="{_num(y + 4)}" text-anchor="end" font-size="11">{_text(value_text(value))}</text>')
    parts.append(
        f'<line class="chart-axis" x1="{_LEFT}" y1="{height - _BOTTOM}" x2="{width - _RIGHT}" y2="{height - _BOTTOM}" stroke="currentColor"/>'
    )
    return parts


def _category_labels(labels: Sequence[str], width: int, height: int) -> list[str]:
    plot_w = width - _LEFT - _RIGHT
    n = max(len(labels), 1)
    every = max(1, math.ceil(n / 12))  # at most about twelve labels fit under the axis
    parts = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = _LEFT + plot_w * (i + 0.5) / n
        parts.append(f'<text class="chart-label" x="{_num(x)}" y="{height - _BOTTOM + 16}" text-anchor="middle" font-size="11">{_text(label)}</text>')
    return parts


def _legend(series: Sequence[Series], height: int) -> list[str]:
    parts = []
    x = _LEFT
    for s in series:
        parts.append(f'<rect class="chart-bar {_text(s.css)}" x="{x}" y="{height - 14}" width="10" height="10"/>')
        parts.append(f'<text class="chart-label" x="{x + 14}" y="{height - 5}" font-size="11">{_text(s.label)}</text>')
        x += 24 + 7 * len(s.label)
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    value_text: Callable[[float], str] = _num,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Bars per category (e.g. a period), one per series side by side, or stacked."""
    values = [[v or 0.0 for v in s.values] for s in series]
    if stacked:
        top = max((sum(col) for col in zip(*values)), default=0.0)
    else:
        top = max((v for row in values for v in row), default=0.0)
    top = _nice_max(top)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    n = max(len(categories), 1)
    slot = plot_w / n
    parts = _open(chart_id, title, desc, width, height, "bar") + _value_axis(top, width, height, value_text)
    for i, category in enumerate(categories):
        base = 0.0
        for j, s in enumerate(series):
            value = values[j][i] if i < len(values[j]) else 0.0
            h = plot_h * value / top
            if stacked:
                x, w, y = _LEFT + slot * i + slot * 0.15, slot * 0.7, height - _BOTTOM - plot_h * base / top - h
                base += value
            else:
                w = slot * 0.8 / max(len(series), 1)
                x, y = _LEFT + slot * i + slot * 0.1 + w * j, height - _BOTTOM - h
            label = f"{category}, {s.label}: {value_text(value)}"
            parts.append(
                f'<rect class="chart-bar {_text(s.css)}" x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0.5))}" height="{_num(h)}">'
                f"<title>{_text(label)}</title></rect>"
            )
    parts += _category_labels(categories, width, height)
    if len(series) > 1:
        parts += _legend(series, height)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    periods: Sequence[str],
    series: Sequence[Series],
    *,
    value_text: Callable[[float], str] = _num,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One line per series over ``periods``; a missing value breaks the line."""
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0.0))
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    n = max(len(periods), 1)
    parts = _open(chart_id, title, desc, width, height, "line") + _value_axis(top, width, height, value_text)
    for s in series:
        points: list[tuple[float, float, str, float]] = []
        segments: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                segments.append([])
                continue
            x = _LEFT + plot_w * (i + 0.5) / n
            y = height - _BOTTOM - plot_h * value / top
            segments[-1].append((x, y))
            points.append((x, y, periods[i] if i < len(periods) else "", value))
        for segment in segments:
            if len(segment) > 1:
                path = " ".join(f"{_num(x)},{_num(y)}" for x, y in segment)
                parts.append(f'<polyline class="chart-line {_text(s.css)}" points="{path}" fill="none" stroke="currentColor" stroke-width="2"/>')
        for x, y, period, value in points:
            parts.append(
                f'<circle class="chart-point {_text(s.css)}" cx="{_num(x)}" cy="{_num(y)}" r="3">'
                f"<title>{_text(f'{period}, {s.label}: {value_text(value)}')}</title></circle>"
            )
    parts += _category_labels(periods, width, height)
    if len(series) > 1:
        parts += _legend(series, height)
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    chart_id: str,
    title: str,
    desc: str,
    buckets: Sequence[str],
    counts: Sequence[int],
    *,
    css: str = "",
    value_text: Callable[[float], str] = _num,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Counts per bucket (e.g. "0–1 h", "1–2 h" …), bars touching."""
    top = _nice_max(max(counts, default=0))
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    n = max(len(buckets), 1)
    slot = plot_w / n
    parts = _open(chart_id, title, desc, width, height, "histogram") + _value_axis(top, width, height, value_text)
    for i, (bucket, count) in enumerate(zip(buckets, counts)):
        h = plot_h * count / top
        parts.append(
            f'<rect class="chart-bar {_text(css)}" x="{_num(_LEFT + slot * i + 1)}" y="{_num(height - _BOTTOM - h)}" width="{_num(max(slot - 2, 0.5))}" height="{_num(h)}">'
            f"<title>{_text(f'{bucket}: {value_text(count)}')}</title></rect>"
        )
    parts += _category_labels(buckets, width, height)
    parts.append("</svg>")
    return "".join(parts)
