"""The yearly report as an A4 PDF (fpdf2, the CJK font embedded as a subset, as the member-card
sheets do): a cover with the key figures, then month by month, the units below, role models,
activities and welfare days, the alliance, and the ledger's integrity. Charts are the same PNGs
``api.reports.charts`` serves on their own; every number is printed with ``labels.num``."""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

from api.cards.sheet import cjk_font
from api.reports import charts
from api.reports.labels import KEY_FIGURES, kind_label, month_label, num, t
from projections.reports import YearReport

RED, RED_DARK, GOLD, INK, MUTED, PAPER = (200, 16, 46), (158, 11, 34), (232, 176, 74), (31, 36, 48), (107, 114, 128), (253, 248, 240)
MARGIN = 15.0
WIDTH = 210.0 - 2 * MARGIN


class _Doc(FPDF):
    lang = "zh"
    footer_text = ""

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-12)
        self.set_font("cjk", size=8)
        self.set_text_color(*MUTED)
        self.cell(WIDTH / 2, 5, self.footer_text)
        self.cell(WIDTH / 2, 5, t(self.lang, "page", n=self.page_no()), align="R")


def _heading(doc: FPDF, text: str) -> None:
    doc.set_font("cjk", size=16)
    doc.set_text_color(*RED_DARK)
    doc.cell(WIDTH, 10, text, new_x="LMARGIN", new_y="NEXT")
    doc.set_draw_color(*GOLD)
    doc.set_line_width(0.6)
    doc.line(MARGIN, doc.get_y(), MARGIN + 30, doc.get_y())
    doc.ln(3)


def _note(doc: FPDF, text: str) -> None:
    doc.set_font("cjk", size=10)
    doc.set_text_color(*MUTED)
    doc.multi_cell(WIDTH, 5.5, text, new_x="LMARGIN", new_y="NEXT")
    doc.ln(1)


def _chart(doc: FPDF, png: bytes, width: float = WIDTH) -> None:
    from PIL import Image

    w, h = Image.open(io.BytesIO(png)).size
    height = width * h / w
    if doc.get_y() + height > doc.h - 18:
        doc.add_page()
    doc.image(io.BytesIO(png), x=MARGIN + (WIDTH - width) / 2, y=doc.get_y(), w=width, h=height)
    doc.set_y(doc.get_y() + height + 3)


def _table(doc: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float], *, size: float = 9) -> None:
    doc.set_font("cjk", size=size)
    doc.set_text_color(*INK)
    doc.set_draw_color(225, 215, 200)
    doc.set_line_width(0.2)
    doc.set_fill_color(*PAPER)  # fpdf2 fills the other rows with the current fill colour
    head = FontFace(color=(255, 255, 255), fill_color=RED)
    aligns = ["LEFT"] + ["RIGHT"] * (len(header) - 1)
    with doc.table(
        col_widths=tuple(widths), width=WIDTH, headings_style=head, line_height=size * 0.62,
        text_align=tuple(aligns), cell_fill_color=PAPER, cell_fill_mode="ROWS", first_row_as_headings=True,
    ) as table:
        table.row(list(header))
        for row in rows:
            table.row(list(row))
    doc.ln(3)


def _cover(doc: _Doc, r: YearReport, lang: str) -> None:
    doc.add_page()
    doc.set_fill_color(*RED)
    doc.rect(0, 0, 210, 78, style="F")
    doc.set_fill_color(*GOLD)
    doc.rect(MARGIN, 18, 14, 14, style="F", round_corners=True, corner_radius=3)
    doc.set_font("cjk", size=22)
    doc.set_text_color(*RED_DARK)
    doc.set_xy(MARGIN, 18)
    doc.cell(14, 14, "德", align="C")
    doc.set_text_color(255, 255, 255)
    doc.set_font_size(12)
    doc.set_xy(MARGIN + 18, 19)
    doc.cell(120, 6, t(lang, "subtitle"))
    doc.set_font_size(10)
    doc.set_xy(MARGIN + 18, 26)
    doc.cell(150, 5, " › ".join(r.path))
    doc.set_font_size(26)
    doc.set_xy(MARGIN, 40)
    doc.cell(WIDTH, 12, f"{r.unit_name}")
    doc.set_font_size(18)
    doc.set_xy(MARGIN, 54)
    doc.cell(WIDTH, 9, t(lang, "title", year=r.year) + f" · {kind_label(lang, r.unit_kind)}")
    doc.set_font_size(9)
    doc.set_xy(MARGIN, 66)
    doc.cell(WIDTH, 5, t(lang, "generated", at=r.generated_at, zone=r.zone))
    doc.set_y(86)
    if not r.complete:
        _note(doc, t(lang, "partial", day=r.integrity.day))
    if r.empty:
        doc.set_fill_color(*PAPER)
        doc.set_draw_color(*GOLD)
        doc.set_font("cjk", size=13)
        doc.set_text_color(*RED_DARK)
        doc.multi_cell(WIDTH, 10, t(lang, "empty"), border=1, fill=True, new_x="LMARGIN", new_y="NEXT", padding=3)
        doc.ln(4)
    _heading(doc, t(lang, "key_figures"))
    f = r.figures
    cols, box_w, box_h, gap = 3, (WIDTH - 2 * 4) / 3, 26.0, 4.0
    top = doc.get_y()
    for i, (field, key) in enumerate(KEY_FIGURES):
        x = MARGIN + (i % cols) * (box_w + gap)
        y = top + (i // cols) * (box_h + gap)
        doc.set_fill_color(*PAPER)
        doc.set_draw_color(240, 226, 200)
        doc.rect(x, y, box_w, box_h, style="DF", round_corners=True, corner_radius=2.5)
        doc.set_fill_color(*RED)
        doc.rect(x, y + 4, 1.4, box_h - 8, style="F")
        doc.set_xy(x + 5, y + 3.5)
        doc.set_font("cjk", size=20)
        doc.set_text_color(*RED_DARK)
        doc.cell(box_w - 8, 11, num(getattr(f, field)))
        doc.set_xy(x + 5, y + 16)
        doc.set_font_size(10)
        doc.set_text_color(*INK)
        doc.cell(box_w - 8, 6, t(lang, key))
    doc.set_y(top + 4 * (box_h + gap) + 2)


def _months(doc: _Doc, r: YearReport, lang: str, pngs: dict[str, bytes]) -> None:
    doc.add_page()
    _heading(doc, t(lang, "by_month"))
    header = [t(lang, k) for k in ("month", "minutes_col", "issued", "earned", "redeemed", "expired", "active", "activities", "redemptions")]
    rows = [
        [month_label(lang, m.month), num(m.hours), num(m.issued), num(m.earned), num(m.redeemed), num(m.expired),
         num(m.active), num(m.activities), num(m.redemptions)]
        for m in r.months
    ]
    _table(doc, header, rows, (14, 20, 18, 18, 18, 18, 18, 18, 18), size=8.5)
    for name in ("hours", "points", "active"):
        _chart(doc, pngs[name], WIDTH * 0.8)


def _units(doc: _Doc, r: YearReport, lang: str, pngs: dict[str, bytes]) -> None:
    doc.add_page()
    _heading(doc, t(lang, "units_below"))
    if not r.units_below:
        _note(doc, t(lang, "no_units_below"))
        return
    header = [t(lang, k) for k in ("unit", "volunteers", "active", "hours", "activities", "issued", "earned", "redeemed")]
    rows = [
        [u.name, num(u.volunteers), num(u.active), num(u.hours), num(u.activities), num(u.issued), num(u.earned), num(u.redeemed)]
        for u in r.units_below
    ]
    _table(doc, header, rows, (40, 20, 20, 20, 18, 20, 20, 20), size=8.5)
    _chart(doc, pngs["units"], WIDTH)


def _people(doc: _Doc, r: YearReport, lang: str, pngs: dict[str, bytes]) -> None:
    doc.add_page()
    _heading(doc, t(lang, "role_models"))
    if r.role_models:
        _note(doc, t(lang, "masked_note" if r.names_masked else "full_note"))
        header = [t(lang, k) for k in ("rank", "name", "home", "points", "minutes_col")]
        rows = [[str(m.rank), m.name, m.home, num(m.points), num(round(m.minutes / 60, 1))] for m in r.role_models]
        _table(doc, header, rows, (14, 40, 70, 26, 26))
    else:
        _note(doc, t(lang, "no_role_models"))
    _heading(doc, t(lang, "activities_by_unit"))
    if r.activities_by_unit:
        header = [t(lang, "unit"), *(month_label(lang, m) for m in range(1, 13)), t(lang, "total")]
        rows = [[a.unit, *(num(v) for v in a.by_month), num(a.total)] for a in r.activities_by_unit]
        _table(doc, header, rows, (34, *([10.5] * 12), 14), size=7.5)
        _chart(doc, pngs["activities"], WIDTH * 0.9)
    else:
        _note(doc, t(lang, "no_activities"))
    _heading(doc, t(lang, "batches"))
    if r.batches:
        header = [t(lang, k) for k in ("batch_title", "day", "lines", "people", "points", "minutes_col")]
        rows = [[b.title or b.id[:8], b.day, num(b.lines), num(b.volunteers), num(b.points), num(round(b.minutes / 60, 1))] for b in r.batches]
        _table(doc, header, rows, (56, 26, 22, 22, 26, 26))
    else:
        _note(doc, t(lang, "no_batches"))


def _alliance(doc: _Doc, r: YearReport, lang: str, pngs: dict[str, bytes]) -> None:
    doc.add_page()
    _heading(doc, t(lang, "alliance"))
    if r.shops:
        header = [t(lang, k) for k in ("shop", "unit", "redemptions", "net_points")]
        rows = [[s.name, s.unit, num(s.redemptions), num(s.points)] for s in r.shops]
        _table(doc, header, rows, (60, 60, 30, 30))
        _chart(doc, pngs["shops"], WIDTH * 0.9)
    else:
        _note(doc, t(lang, "no_shops"))
    _chart(doc, pngs["redemptions"], WIDTH * 0.9)
    if doc.get_y() > doc.h - 80:
        doc.add_page()
    _heading(doc, t(lang, "integrity"))
    i = r.integrity
    status = t(lang, i.verified) + (f" — {i.verify_detail}" if i.verify_detail else "")
    doc.set_font("cjk", size=10)
    for label, value in (
        (t(lang, "root_day"), i.day),
        (t(lang, "root"), i.root),
        (t(lang, "last_event"), str(i.last_notification_id) if i.last_notification_id is not None else "—"),
        (t(lang, "events_in_year"), num(i.events_in_year)),
        (t(lang, "verify"), status),
    ):
        doc.set_text_color(*MUTED)
        doc.cell(55, 7, label)
        doc.set_text_color(*INK)
        doc.set_font("cjk", size=8.5 if len(value) > 40 else 10)
        doc.multi_cell(WIDTH - 55, 7, value, new_x="LMARGIN", new_y="NEXT")
        doc.set_font("cjk", size=10)


def render(r: YearReport, lang: str, pngs: dict[str, bytes] | None = None) -> bytes:
    """Raises FontMissing."""
    pngs = pngs if pngs is not None else charts.all_pngs(r, lang)
    doc = _Doc(orientation="P", unit="mm", format="A4")
    doc.lang = lang
    doc.footer_text = f"{r.unit_name} · {t(lang, 'title', year=r.year)}"
    doc.set_title(f"{r.unit_name} {t(lang, 'title', year=r.year)}")
    doc.set_creator("moralbank")
    doc.set_margins(MARGIN, MARGIN, MARGIN)
    doc.set_auto_page_break(True, margin=16)
    doc.add_font("cjk", "", str(cjk_font()))
    _cover(doc, r, lang)
    _months(doc, r, lang, pngs)
    _units(doc, r, lang, pngs)
    _people(doc, r, lang, pngs)
    _alliance(doc, r, lang, pngs)
    return bytes(doc.output())
