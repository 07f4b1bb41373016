"""A batch as a reply, and its refused lines as CSV for Excel."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from ledger.batches.domain import Batch

from api.batches.schemas import BatchOut, BatchProgress, RefusedLine

REPORT_COLUMNS = ["行号 line", "原因代码 code", "原因 reason"]


def refused_lines(rows: list[list[Any]]) -> list[RefusedLine]:
    return [RefusedLine(line=int(r[0]), code=str(r[1]), message=str(r[2])) for r in rows]


def batch_out(b: Batch, zone: ZoneInfo, *, refused_limit: int = 1000) -> BatchOut:
    total = max(b.lines_total, 1)
    return BatchOut(
        id=b.id, title=b.title, unit_id=b.unit_id, status=b.status,  # type: ignore[arg-type]
        progress=BatchProgress(lines_total=b.lines_total, lines_done=b.lines_done,
                               percent=round(100.0 * b.lines_done / total, 1)),
        accepted=b.accepted, refused_count=len(b.refused), points=b.points, minutes=b.minutes,
        reversed_lines=len(b.reversed_lines), reversed_points=b.reversed_points,
        format=b.source["format"], encoding=b.source["encoding"], cap=b.cap,
        started_at=b.started_at.astimezone(zone),
        finished_at=b.finished_at.astimezone(zone) if b.finished_at else None,
        failure=b.failure, refused=refused_lines(b.refused[:refused_limit]), refused_truncated=len(b.refused) > refused_limit,
        report_csv=f"/v1/batches/{b.id}/refused.csv",
    )


# The reason in words for the street office (the code and the ledger's English message stay beside it).
REASON_WORDS: dict[str, str] = {
    "malformed_line": "这一行无法读取", "missing_volunteer": "缺少会员号或志愿者ID", "unknown_volunteer": "找不到这位志愿者",
    "volunteer_out_of_scope": "这位志愿者不在您的管辖范围", "invalid_points": "积分应为正整数", "points_above_cap": "积分超过每行上限",
    "invalid_minutes": "时长应为 0 或正整数", "invalid_line_key": "序号不合规", "invalid_memo": "备注太长或含控制字符",
    "duplicate_line": "与文件中前面的行重复", "already_paid": "这一行之前已经发放过",
    "points_spent": "志愿者已花掉这些积分", "not_credited": "这一行没有发放过", "already_reversed": "这一行已经撤销过",
}
Written = tuple[list[str], dict[int, list[str]]]


def reason_words(code: str, message: str) -> str:
    words = REASON_WORDS.get(code.removeprefix("reversal:"))
    return f"{words} / {message}" if words else message


def refused_csv(batch: Batch, written: Written | None) -> str:
    """Every refused line of the batch and of its reversals, for a spreadsheet (UTF-8 with a
    byte-order mark, CRLF lines): each line's own columns as written, in the file's header order,
    then its line number, the reason's code and the reason in words. Fixed, the same file can be
    uploaded again (the report columns are not batch columns, and an earlier report's are dropped).
    ``written`` is None when the file is no longer on this server: then the report columns only."""
    header, cells = written or ([], {})
    keep = [i for i, h in enumerate(header) if h.strip() not in REPORT_COLUMNS]
    width = len(header)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([header[i] for i in keep] + REPORT_COLUMNS)
    rows = [(line, code, message) for line, code, message in batch.refused]
    rows += [(line, f"reversal:{code}", message) for line, code, message in batch.reversal_refused]
    for line, code, message in rows:
        own = cells.get(int(line), [])
        words = reason_words(str(code), str(message))
        if any(c.strip() for c in own[width:]):
            words += "（多余的列 extra cells: " + ", ".join(own[width:]) + "）"
        padded = own[:width] + [""] * (width - len(own[:width]))
        w.writerow([padded[i] for i in keep] + [line, code, words])
    return "\ufeff" + out.getvalue()
