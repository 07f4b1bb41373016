"""Printable A4 sheets of member cards, 8 or 10 a page (ID-1 size, 85.6 × 54 mm, two columns):
name, member number, unit and the card's QR. As print-ready HTML, or as PDF (fpdf2) with a CJK
font embedded (subset) so any printer shop prints the names as they are."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

from api.cards.views import qr_png, qr_svg
from api.problems import Problem

CARD_W, CARD_H = 85.6, 54.0  # mm, ISO/IEC 7810 ID-1
PAGE_W, PAGE_H = 210.0, 297.0
COL_GAP = 6.0
ROW_GAP = {8: 8.0, 10: 3.0}
PER_PAGE = (8, 10)
# CJK fonts, first found wins (fonts-wqy-microhei is what ops/machine/test-packages.sh installs).
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
RED, RED_DARK, GOLD, INK, MUTED = (200, 16, 46), (158, 11, 34), (232, 176, 74), (31, 36, 48), (107, 114, 128)


@dataclass(frozen=True)
class CardFace:
    name: str
    member_no: str | None
    unit: str
    serial: int
    url: str  # what the QR encodes


class FontMissing(Problem):
    status, code, title = 503, "font_missing", "No CJK font on this server"


def slots(per_page: int) -> list[tuple[float, float]]:
    """Top-left corners (mm) of the cards on a page, row by row."""
    rows = per_page // 2
    gap = ROW_GAP[per_page]
    left = (PAGE_W - 2 * CARD_W - COL_GAP) / 2
    top = (PAGE_H - rows * CARD_H - (rows - 1) * gap) / 2
    return [(left + c * (CARD_W + COL_GAP), top + r * (CARD_H + gap)) for r in range(rows) for c in range(2)]


def pages(faces: Sequence[CardFace], per_page: int) -> list[Sequence[CardFace]]:
    return [faces[i : i + per_page] for i in range(0, len(faces), per_page)] or [[]]


# ---------------------------------------------------------------- PDF


@lru_cache(maxsize=1)
def cjk_font() -> Path:
    """Raises FontMissing."""
    for path in CJK_FONTS:
        if path.is_file():
            return path
    raise FontMissing("no CJK font is installed on this server (apt-get install fonts-wqy-microhei); use format=html")


def pdf(faces: Sequence[CardFace], per_page: int, title: str) -> bytes:
    """Raises FontMissing."""
    doc = FPDF(orientation="P", unit="mm", format="A4")
    doc.set_title(title)
    doc.set_creator("moralbank")
    doc.set_auto_page_break(False)
    doc.add_font("cjk", "", str(cjk_font()))
    for page in pages(faces, per_page):
        doc.add_page()
        for face, (x, y) in zip(page, slots(per_page)):
            _pdf_card(doc, face, x, y)
    return bytes(doc.output())


def _fit(doc: FPDF, text: str, size: float, width: float) -> str:
    """Shrink the font until ``text`` fits ``width``; cut it with … if even 7 pt is too wide."""
    while size > 7 and doc.get_string_width(text) > width:
        size -= 0.5
        doc.set_font_size(size)
    while len(text) > 1 and doc.get_string_width(text) > width:
        text = text[:-2] + "…"
    return text


def _pdf_card(doc: FPDF, face: CardFace, x: float, y: float) -> None:
    band = 11.0
    qr = 33.0
    # outline (cut line) and the red band
    doc.set_draw_color(210, 200, 185)
    doc.set_line_width(0.2)
    doc.set_fill_color(255, 255, 255)
    doc.rect(x, y, CARD_W, CARD_H, style="DF", round_corners=True, corner_radius=3)
    doc.set_fill_color(*RED)
    doc.rect(x, y, CARD_W, band, style="F", round_corners=("TOP_LEFT", "TOP_RIGHT"), corner_radius=3)
    doc.set_fill_color(*GOLD)
    doc.rect(x + 4, y + 2.2, 6.6, 6.6, style="F", round_corners=True, corner_radius=1.5)
    doc.set_font("cjk", size=12)
    doc.set_text_color(*RED_DARK)
    doc.set_xy(x + 4, y + 2.2)
    doc.cell(6.6, 6.6, "德", align="C")
    doc.set_text_color(255, 255, 255)
    doc.set_font_size(11)
    doc.set_xy(x + 12.5, y + 1.6)
    doc.cell(40, 5, "道德银行 · 志愿者会员卡")
    doc.set_font_size(6)
    doc.set_xy(x + 12.5, y + 6.4)
    doc.cell(40, 3, "MORAL BANK · VOLUNTEER MEMBER CARD")
    doc.set_xy(x + CARD_W - 24, y + 3.8)
    doc.cell(20, 3.5, f"No.{face.serial}", align="R")
    # the QR, right
    qx, qy = x + CARD_W - qr - 2.5, y + band + (CARD_H - band - qr) / 2 - 1.2
    doc.image(io.BytesIO(qr_png(face.url)), x=qx, y=qy, w=qr, h=qr)
    doc.set_font_size(5.5)
    doc.set_text_color(*MUTED)
    doc.set_xy(qx, qy + qr - 0.6)
    doc.cell(qr, 2.6, "扫码 · 输入6位密码登录", align="C")
    # name, member number, unit, left
    text_w = CARD_W - qr - 9
    doc.set_text_color(*INK)
    doc.set_font_size(17)
    name = _fit(doc, face.name, 17, text_w)
    doc.set_xy(x + 5, y + band + 4.5)
    doc.cell(text_w, 8, name)
    for i, (label, value) in enumerate((("会员号", face.member_no or "—"), ("所属", face.unit))):
        ly = y + band + 16 + i * 9
        doc.set_font_size(6.5)
        doc.set_text_color(*MUTED)
        doc.set_xy(x + 5, ly)
        doc.cell(text_w, 3, label)
        doc.set_font_size(10)
        doc.set_text_color(*INK)
        doc.set_xy(x + 5, ly + 3.2)
        doc.cell(text_w, 4.5, _fit(doc, value, 10, text_w))
    doc.set_fill_color(*GOLD)
    doc.rect(x + 5, y + CARD_H - 5, 18, 0.9, style="F")


# ---------------------------------------------------------------- HTML


_CSS = """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; background: #e9e4da; color: #1f2430;
  font-family: "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", system-ui, sans-serif; }
.toolbar { position: sticky; top: 0; display: flex; gap: 12px; align-items: center; justify-content: center;
  padding: 10px; background: #9e0b22; color: #fff; font-size: 15px; z-index: 2; }
.toolbar button { font: inherit; border: 0; border-radius: 10px; padding: 8px 18px; background: #e8b04a; color: #5a1a0a;
  font-weight: 700; cursor: pointer; }
.page { position: relative; width: 210mm; height: 297mm; margin: 8mm auto; background: #fff;
  box-shadow: 0 4px 18px rgba(60, 30, 10, .18); page-break-after: always; break-after: page; }
.page:last-child { page-break-after: auto; break-after: auto; }
.mcard { position: absolute; width: 85.6mm; height: 54mm; border: .25mm solid #d2c8b9; border-radius: 3mm;
  overflow: hidden; background: linear-gradient(160deg, #fff 60%, #fff6e6); }
.mcard .band { height: 11mm; background: linear-gradient(135deg, #c8102e, #9e0b22); color: #fff;
  display: flex; align-items: center; gap: 2mm; padding: 0 3mm 0 4mm; }
.mcard .seal { width: 6.6mm; height: 6.6mm; border-radius: 1.5mm; background: #e8b04a; color: #9e0b22;
  display: grid; place-items: center; font-weight: 900; font-size: 4.2mm; }
.mcard .brand { flex: 1; line-height: 1.05; }
.mcard .brand b { display: block; font-size: 3.8mm; letter-spacing: .2mm; }
.mcard .brand small { font-size: 1.9mm; opacity: .85; letter-spacing: .15mm; }
.mcard .serial { font-size: 2.2mm; opacity: .85; }
.mcard .body { display: flex; padding: 2.5mm 2.5mm 0 5mm; gap: 2mm; }
.mcard .who { flex: 1; min-width: 0; }
.mcard .name { font-size: 6mm; font-weight: 800; margin: 1.5mm 0 2.5mm; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.mcard .label { font-size: 2.2mm; color: #6b7280; }
.mcard .value { font-size: 3.4mm; margin-bottom: 1.8mm; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.mcard .qr { width: 33mm; text-align: center; }
.mcard .qr svg { width: 33mm; height: 33mm; display: block; }
.mcard .qr span { font-size: 1.9mm; color: #6b7280; }
.mcard .gold { position: absolute; left: 5mm; bottom: 4mm; width: 18mm; height: .9mm; background: #e8b04a; }
@media print { html, body { background: #fff; } .toolbar { display: none; } .page { margin: 0; box-shadow: none; } }
"""


def _svg_inline(data: str) -> str:
    svg = qr_svg(data).decode()
    return svg[svg.index("<svg") :]


def _html_card(face: CardFace, x: float, y: float) -> str:
    e = html.escape
    return (
        f'<div class="mcard" style="left:{x:.2f}mm;top:{y:.2f}mm" data-card-url="{e(face.url)}">'
        '<div class="band"><div class="seal">德</div>'
        '<div class="brand"><b>道德银行 · 志愿者会员卡</b><small>MORAL BANK · VOLUNTEER MEMBER CARD</small></div>'
        f'<div class="serial">No.{face.serial}</div></div>'
        '<div class="body"><div class="who">'
        f'<div class="name">{e(face.name)}</div>'
        f'<div class="label">会员号 Member No.</div><div class="value">{e(face.member_no or "—")}</div>'
        f'<div class="label">所属 Unit</div><div class="value">{e(face.unit)}</div>'
        '</div>'
        f'<div class="qr" data-card-qr>{_svg_inline(face.url)}<span>扫码 · 输入6位密码登录</span></div>'
        '</div><div class="gold"></div></div>'
    )


def html_sheet(faces: Sequence[CardFace], per_page: int, title: str) -> str:
    body = []
    for page in pages(faces, per_page):
        cards = "".join(_html_card(face, x, y) for face, (x, y) in zip(page, slots(per_page)))
        body.append(f'<section class="page">{cards}</section>')
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        '<div class="toolbar"><span>'
        f"{html.escape(title)} · A4 · {per_page} 张/页 per page</span>"
        '<button onclick="window.print()">打印 Print</button></div>'
        + "".join(body)
        + "</body></html>"
    )
