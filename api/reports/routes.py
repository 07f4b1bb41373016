"""A unit's yearly report (issue 19): JSON figures, chart PNGs, or the PDF for the street office.
Admins, and organizers of the unit or a unit above it."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from ledger.errors import NotFound
from projections import reports

from api.auth import ADMIN
from api.deps import DbDep, LedgerDep, ServicesDep, StaffPrincipal, VisibleUnit, ZoneDep
from api.problems import Forbidden, Problem, responses
from api.reports import build, charts
from api.reports.schemas import YearReportOut

router = APIRouter(prefix="/v1", tags=["organizer"])

BINARY = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "application/zip": {"schema": {"type": "string", "format": "binary"}},
}


class ReportYearOutOfRange(Problem):
    status, code, title = 422, "report_year_out_of_range", "No report for that year"


@router.get(
    "/units/{unit_id}/report",
    response_model=YearReportOut,
    responses={**responses(401, 403, 404, 422, 503), 200: {"content": BINARY}},
    summary="A unit's yearly report: its figures as JSON, a chart as PNG (or all charts in a zip), or the PDF",
    description=(
        "Figures of the unit and everything below it for one year cut in the server's zone. `format=json` (default), "
        "`pdf` (A4, CJK font embedded), or `png`: the chart named by `chart` (" + ", ".join(charts.CHARTS) + "), "
        "or without `chart` a zip of every chart. Role models' names are masked as on the public board; "
        "an admin may ask for `full_names=true`. A year after this one or before the ledger's first event is "
        "refused with `report_year_out_of_range`; a year without activity gives a report that says so (`empty`)."
    ),
)
def unit_report(
    unit_id: UUID,
    unit: VisibleUnit,
    principal: StaffPrincipal,
    services: ServicesDep,
    ledger: LedgerDep,
    db: DbDep,
    zone: ZoneDep,
    year: Annotated[int | None, Query(ge=1900, le=9999, description="the year (default: this year)")] = None,
    format: Annotated[Literal["json", "pdf", "png"], Query(description="json, pdf or png")] = "json",
    lang: Annotated[Literal["zh", "en"], Query(description="zh (default) or en")] = "zh",
    chart: Annotated[Literal[charts.CHARTS] | None, Query(description="the chart, with format=png")] = None,  # type: ignore[valid-type]
    full_names: Annotated[bool, Query(description="role models' full names (admins only)")] = False,
) -> YearReportOut | Response:
    if full_names and principal.role != ADMIN:
        raise Forbidden("only an admin may see the role models' full names in a report")
    now = services.clock.now()
    year = year or now.astimezone(zone).year
    try:
        r = build.figures(db, ledger, unit_id, year, zone, now, full_names=full_names)
    except reports.YearOutOfRange as e:
        raise ReportYearOutOfRange(str(e), year=e.year, first_year=e.first, last_year=e.last) from e
    except reports.UnitUnknown as e:
        raise NotFound("this unit is not in the read models yet", id=str(unit_id)) from e
    stem = f"report-{year}-{unit_id}"
    if format == "json":
        return YearReportOut.model_validate(r.as_json())
    if format == "pdf":
        return Response(build.pdf_bytes(r, lang), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{stem}-{lang}.pdf"'})
    if chart is not None:
        return Response(charts.png(r, lang, chart), media_type="image/png",
                        headers={"Content-Disposition": f'inline; filename="{stem}-{chart}-{lang}.png"'})
    return Response(build.charts_zip(charts.all_pngs(r, lang), f"{stem}-{lang}"), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{stem}-{lang}.zip"'})
