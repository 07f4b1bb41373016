"""One report, for the API and the CLI: the figures read in one transaction, then JSON, chart PNGs
(one, or all in a zip) or the PDF."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from api.reports import charts, pdf
from projections import reports
from projections.db import Database
from projections.rawlog import RawLog


def postings_table(ledger: Any, postgres: bool) -> str:
    return RawLog(ledger, postgres=postgres).postings


def figures(
    db: Database, ledger: Any, unit_id: UUID, year: int, zone: ZoneInfo, now: datetime, *,
    full_names: bool = False, verified: tuple[str, str] | None = None,
) -> reports.YearReport:
    """Raises YearOutOfRange, UnitUnknown."""
    reports.check_year(year, first=reports.first_year(ledger.recorder, zone), today=now.astimezone(zone).date())
    with db.read() as tx:
        return reports.year_report(
            tx, ledger.recorder, unit_id, year, zone, now, full_names=full_names, verified=verified,
            postings_table=postings_table(ledger, db.is_postgres),
        )


def charts_zip(pngs: dict[str, bytes], stem: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
        for name, data in pngs.items():
            z.writestr(f"{stem}-{name}.png", data)
    return buf.getvalue()


def pdf_bytes(r: reports.YearReport, lang: str) -> bytes:
    return pdf.render(r, lang, charts.all_pngs(r, lang))
