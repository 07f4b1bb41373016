"""The yearly report's charts, each a PNG of its own (for a group chat) and a picture in the PDF.

matplotlib's object API (``Figure`` on the Agg canvas, never ``pyplot``): no global state, so
requests in the thread pool may draw at the same time. The CJK font is the one the PDF embeds."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.figure import Figure

from api.cards.sheet import cjk_font
from api.reports.labels import kind_label, month_label, num, t
from projections.reports import MONTHS, YearReport

RED, GOLD, INK, GREY, TEAL = "#c8102e", "#e8b04a", "#1f2430", "#9ca3af", "#2a7f8f"
CHARTS = ("hours", "points", "active", "units", "activities", "shops", "redemptions")
DPI = 150


@lru_cache(maxsize=1)
def _font_family() -> str:
    """Raises FontMissing (api.cards.sheet)."""
    path = str(cjk_font())
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _figure(width: float = 8.0, height: float = 3.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _style(ax: object, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=13, color=INK)  # type: ignore[attr-defined]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)  # type: ignore[attr-defined]
    ax.set_axisbelow(True)  # type: ignore[attr-defined]


def _label_bars(ax: object, bars: object, values: list[int] | list[float]) -> None:
    ax.bar_label(bars, labels=[num(v) if v else "" for v in values], fontsize=7, color=INK, padding=2)  # type: ignore[attr-defined]


def _months(r: YearReport, lang: str) -> list[str]:
    return [month_label(lang, m) for m in MONTHS]


def hours(r: YearReport, lang: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    values = [m.hours for m in r.months]
    _label_bars(ax, ax.bar(_months(r, lang), values, color=RED), values)
    _style(ax, t(lang, "chart_hours"))
    return fig


def points(r: YearReport, lang: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    xs = list(range(12))
    series = [("issued", RED, [m.issued for m in r.months]), ("redeemed", GOLD, [m.redeemed for m in r.months])]
    if any(m.expired for m in r.months):
        series.append(("expired", GREY, [m.expired for m in r.months]))
    width = 0.8 / len(series)
    for i, (key, colour, values) in enumerate(series):
        bars = ax.bar([x + (i - (len(series) - 1) / 2) * width for x in xs], values, width, label=t(lang, key), color=colour)
        _label_bars(ax, bars, values)
    ax.set_xticks(xs, _months(r, lang))
    ax.legend(frameon=False, fontsize=9)
    _style(ax, t(lang, "chart_points"))
    return fig


def active(r: YearReport, lang: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    values = [m.active for m in r.months]
    ax.plot(_months(r, lang), values, color=TEAL, marker="o", linewidth=2)
    for x, v in enumerate(values):
        if v:
            ax.annotate(num(v), (x, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7, color=INK)
    ax.set_ylim(bottom=0, top=max(values + [1]) * 1.2)
    _style(ax, t(lang, "chart_active"))
    return fig


def units(r: YearReport, lang: str) -> Figure:
    """One bar chart per figure, the units below side by side."""
    rows = r.units_below or []
    height = max(3.0, 1.2 + 0.28 * len(rows)) * 2
    fig = _figure(8.0, min(height, 11.0))
    names = [u.name for u in rows] or ["—"]
    panels = (
        ("hours", [u.hours for u in rows], RED),
        ("active", [u.active for u in rows], TEAL),
        ("earned", [u.earned for u in rows], GOLD),
        ("redeemed", [u.redeemed for u in rows], GREY),
    )
    axes = fig.subplots(2, 2, sharey=True)
    for ax, (key, values, colour) in zip(axes.flat, panels, strict=True):
        values = values or [0]
        bars = ax.barh(names, values, color=colour)
        ax.bar_label(bars, labels=[num(v) for v in values], fontsize=7, padding=2)
        ax.invert_yaxis()
        ax.set_title(t(lang, key), loc="left", fontsize=11, color=INK)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", labelsize=8)
        ax.margins(x=0.2)
    fig.suptitle(f"{t(lang, 'units_below')} · {kind_label(lang, r.unit_kind)} {r.unit_name}", x=0.02, ha="left",
                 fontsize=13, color=INK)
    return fig


def activities(r: YearReport, lang: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    bottom = [0] * 12
    palette = [RED, GOLD, TEAL, "#7c3aed", "#059669", "#d97706", "#2563eb", "#db2777", GREY]
    for i, row in enumerate(r.activities_by_unit):
        ax.bar(_months(r, lang), row.by_month, bottom=bottom, label=row.unit, color=palette[i % len(palette)])
        bottom = [b + v for b, v in zip(bottom, row.by_month, strict=True)]
    for x, v in enumerate(bottom):
        if v:
            ax.annotate(num(v), (x, v), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    if r.activities_by_unit:
        ax.legend(frameon=False, fontsize=7, ncols=2, loc="upper left")
    _style(ax, t(lang, "activities_by_unit"))
    return fig


def shops(r: YearReport, lang: str) -> Figure:
    top = r.shops[:15]
    fig = _figure(8.0, max(2.6, 0.8 + 0.3 * len(top)))
    ax = fig.add_subplot()
    names = [s.name for s in top] or ["—"]
    values = [s.points for s in top] or [0]
    bars = ax.barh(names, values, color=GOLD)
    ax.bar_label(bars, labels=[num(v) for v in values], fontsize=7, padding=2)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    _style(ax, t(lang, "chart_shops"))
    ax.grid(axis="y", visible=False)
    return fig


def redemptions(r: YearReport, lang: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    values = [m.redemptions for m in r.months]
    _label_bars(ax, ax.bar(_months(r, lang), values, color=GOLD), values)
    _style(ax, t(lang, "chart_redemptions"))
    return fig


DRAW: dict[str, Callable[[YearReport, str], Figure]] = {
    "hours": hours, "points": points, "active": active, "units": units,
    "activities": activities, "shops": shops, "redemptions": redemptions,
}


def png(r: YearReport, lang: str, name: str) -> bytes:
    """One chart as PNG. Raises KeyError (unknown chart), FontMissing."""
    draw = DRAW[name]
    family = _font_family()
    import matplotlib

    with matplotlib.rc_context({"font.family": [family, "DejaVu Sans"], "axes.unicode_minus": False}):
        fig = draw(r, lang)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def all_pngs(r: YearReport, lang: str) -> dict[str, bytes]:
    return {name: png(r, lang, name) for name in CHARTS}
