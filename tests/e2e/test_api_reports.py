"""The yearly report (issue 19) on each store: every figure the PDF prints equals the JSON and the
API's own unit figures; the PDF embeds a CJK font and renders to PNG; an empty year says so; a
year out of range is refused with its own code; charts come one by one or zipped."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from api.reports.labels import KEY_FIGURES, TEXT, num
from e2e_contract import bearer

pytestmark = pytest.mark.usefixtures("store")


def _world(town: Any) -> Any:
    """The town, plus activity in it: another volunteer credited, a redemption at its shop."""
    svc, ledger, units = town.services, town.services.ledger, town.units
    other = ledger.register_volunteer("张小明", units["compound_a"]).id
    ledger.credit("report:second", units["compound_a"], other, 40, minutes=90)
    svc.catch_up()
    return town


def _get(town: Any, path: str, role: str = "admin") -> Any:
    return town.client.get(path, headers=bearer(town.secrets[role]))


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_figures_equal_json_and_unit_figures(town: Any, tmp_path: Path) -> None:
    _world(town)
    street = town.units["street_a"]
    report = _get(town, f"/v1/units/{street}/report?year=2026").json()
    f = report["figures"]
    assert f["earned"] == 140 and f["minutes"] == 150 and f["volunteers"] == 2 and f["active"] == 2
    assert not report["empty"]
    assert [m["name"] for m in report["role_models"]] == ["O*n", "张*明"] and report["names_masked"]
    # the API's own figures for the same unit and year (the console's unit tree)
    tree = _get(town, "/v1/units").json()["units"]
    year = next(x for n in tree if n["id"] == str(street) for x in n["figures"] if x["period"] == "year")
    for k in ("issued", "earned", "redeemed", "minutes", "active"):
        assert report["figures"][k] == year[k], k
    assert report["months"][10]["earned"] == 140  # November
    # the PDF prints the same numbers beside the same labels
    response = _get(town, f"/v1/units/{street}/report?year=2026&format=pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.content)
    cover = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    lines = cover.splitlines()
    for field, key in KEY_FIGURES:
        label = TEXT["zh"][key]
        value = num(f[field])
        assert label in cover, label
        assert any(value == line.strip() for line in lines), (field, value, lines)
    for m in report["months"]:
        if m["earned"]:
            assert num(m["earned"]) in text and num(m["hours"]) in text
    assert report["integrity"]["root"] in text.replace("\n", "")
    for label in ("年度主要数字", "逐月情况", "下级单位对比", "年度道德榜样", "各单位每月活动次数", "公益日批量发放", "道德联盟", "账本完整性"):
        assert label in text, label
    assert "张*明" in text and "张小明" not in text
    # fonts: a CJK font embedded (a subset with its own file), no glyph missing (labels read back above)
    fonts = PdfReader(io.BytesIO(response.content)).pages[0]["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        for desc in font.get("/DescendantFonts", []):
            d = desc.get_object()["/FontDescriptor"].get_object()
            if "/FontFile2" in d:
                embedded.append(str(d["/FontName"]))
    assert any("WenQuanYi" in name or "Noto" in name for name in embedded), embedded
    # it renders to PNG
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(response.content)
    assert shutil.which("pdftoppm"), "pdftoppm (poppler-utils, ops/machine/test-packages.sh) renders the PDF"
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf_path), str(tmp_path / "page")], check=True)
    pngs = list(tmp_path.glob("page*.png"))
    assert pngs and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_english_and_full_names_for_an_admin(town: Any) -> None:
    _world(town)
    street = town.units["street_a"]
    text = _pdf_text(_get(town, f"/v1/units/{street}/report?year=2026&format=pdf&lang=en&full_names=true").content)
    assert "Hours served" in text and "Role models of the year" in text and "张小明" in text
    assert _get(town, f"/v1/units/{town.units['community_a']}/report?full_names=true", "org_in").json()["code"] == "forbidden"


def test_a_year_without_activity_says_so(town: Any) -> None:
    street_b = town.units["street_b"]
    report = _get(town, f"/v1/units/{street_b}/report?year=2026").json()
    assert report["empty"] and report["figures"]["earned"] == 0 and report["role_models"] == []
    assert report["figures"]["volunteers"] == 1
    text = _pdf_text(_get(town, f"/v1/units/{street_b}/report?year=2026&format=pdf").content)
    assert TEXT["zh"]["empty"] in text.replace("\n", "")


@pytest.mark.parametrize("year", [2031, 2019])
def test_a_year_out_of_range_is_refused(town: Any, year: int) -> None:
    response = _get(town, f"/v1/units/{town.units['street_a']}/report?year={year}")
    assert response.status_code == 422
    assert response.json()["code"] == "report_year_out_of_range"


def test_charts_one_by_one_or_zipped(town: Any) -> None:
    _world(town)
    street = town.units["street_a"]
    one = _get(town, f"/v1/units/{street}/report?year=2026&format=png&chart=points")
    assert one.headers["content-type"] == "image/png" and one.content[:4] == b"\x89PNG"
    bundle = _get(town, f"/v1/units/{street}/report?year=2026&format=png")
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert len(names) == 7 and all(n.endswith(".png") for n in names)
