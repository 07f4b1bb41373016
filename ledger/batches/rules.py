"""Welfare-day batches (公益日批量发放): the pure per-line rules.

A batch credits many volunteers from one uploaded file. The file is read in fixed chunks of
lines; each chunk becomes ONE ``LedgerTransaction.Recorded`` (kind ``batch``) whose postings are
the chunk's accepted lines, saved in the same transaction as the batch's ``ChunkPosted`` event.
So a chunk is either wholly recorded with the batch's progress, or not at all: a run that
is killed resumes at the first chunk the batch has not recorded, and nothing is paid twice.

Each posting of a batch transaction carries its line: ``line`` (number in the file), ``key``
(the paid line key, unique in the store), ``minutes`` and, when given, ``memo``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from ledger import rules
from ledger.errors import InvalidAmount

BATCH = "batch"
BATCH_REVERSAL = "batch_reversal"
BATCH_KINDS = (BATCH, BATCH_REVERSAL)

MAX_LINES = 1_000_000
DEFAULT_CAP = 1_000  # points per line unless the batch says otherwise
CHUNK_LINES = 5_000
MAX_LINE_KEY = 100
MAX_MEMO = 200

RUNNING, FINISHED, FAILED = "running", "finished", "failed"

# Why a line was refused: stable codes, and the message shown beside them.
REASONS: dict[str, str] = {
    "malformed_line": "the line cannot be read",
    "missing_volunteer": "no volunteer id or member number",
    "unknown_volunteer": "no such volunteer",
    "volunteer_out_of_scope": "the volunteer is outside your units",
    "invalid_points": "points must be a positive whole number",
    "points_above_cap": "points above this batch's per-line cap",
    "invalid_minutes": "minutes must be a whole number, zero or more",
    "invalid_line_key": "the line key must be 1 to 100 printable characters",
    "invalid_memo": "the memo must be at most 200 characters without control characters",
    "duplicate_line": "the same line appears earlier in this file",
    "already_paid": "this line was paid before (the same line key, or this same line of the same file)",
}
# Why a line could not be reversed.
REVERSAL_REASONS: dict[str, str] = {
    "points_spent": "the volunteer has already spent these points",
    "not_credited": "this line was not credited by the batch",
    "already_reversed": "this line was already reversed",
}


class Refusal(NamedTuple):
    line: int
    code: str
    message: str


def refusal(line: int, code: str, detail: str = "") -> Refusal:
    base = REASONS.get(code) or REVERSAL_REASONS[code]
    return Refusal(line, code, base + (f": {detail}" if detail else ""))


@dataclass(frozen=True, slots=True)
class Line:
    """A line that passed the rules that need nothing but the line itself."""

    line: int
    volunteer_id: UUID | None
    member_no: str | None
    points: int
    minutes: int
    line_key: str | None
    memo: str

    def content(self) -> str:
        who = str(self.volunteer_id) if self.volunteer_id else f"member:{self.member_no}"
        return f"{who}|{self.points}|{self.minutes}|{self.memo}"


def _printable(text: str) -> bool:
    return text.isprintable()


def _whole(value: object) -> int | None:
    """A whole number from a CSV cell ("12") or a JSON value (12); None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())) and len(text) < 19:
            return int(text)
    return None


def parse_line(line: int, fields: dict[str, Any], *, cap: int) -> Line | Refusal:
    """The rules of one line on its own: volunteer reference, points, minutes, key, memo."""
    volunteer_id: UUID | None = None
    member_no: str | None = None
    ref = fields.get("volunteer_id") or fields.get("volunteer")
    member = fields.get("member_no")
    if isinstance(ref, str) and ref.strip():
        try:
            volunteer_id = UUID(ref.strip())
        except ValueError:
            member_no = ref.strip()  # spreadsheets mix ids and member numbers in one column
    elif isinstance(member, str) and member.strip():
        member_no = member.strip()
    elif isinstance(member, int) and not isinstance(member, bool):
        member_no = str(member)
    else:
        return refusal(line, "missing_volunteer")
    if member_no is not None and (len(member_no) > 64 or not _printable(member_no)):
        return refusal(line, "unknown_volunteer", "not a member number")

    points = _whole(fields.get("points"))
    if points is None or points <= 0:
        return refusal(line, "invalid_points")
    try:
        rules.check_points(points, cap=cap)
    except InvalidAmount:
        return refusal(line, "points_above_cap", f"{points} > {cap}")

    raw_minutes = fields.get("minutes")
    minutes = 0
    if raw_minutes not in (None, ""):
        m = _whole(raw_minutes)
        if m is None or m < 0 or m > rules.MAX_MINUTES_PER_POSTING:
            return refusal(line, "invalid_minutes")
        minutes = m

    line_key = fields.get("line_key")
    if line_key in (None, ""):
        line_key = None
    else:
        line_key = str(line_key).strip() if isinstance(line_key, (str, int)) and not isinstance(line_key, bool) else None
        if not line_key or len(line_key) > MAX_LINE_KEY or not _printable(line_key):
            return refusal(line, "invalid_line_key")

    memo = fields.get("memo") or ""
    if not isinstance(memo, str) or len(memo) > MAX_MEMO or not _printable(memo):
        return refusal(line, "invalid_memo")
    return Line(line, volunteer_id, member_no, points, minutes, line_key, memo.strip())


def duplicate_key(line: Line) -> bytes:
    """What makes two lines of one file the same line: the line key, else the content."""
    text = f"k:{line.line_key}" if line.line_key is not None else f"c:{line.content()}"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def paid_key(unit_id: UUID, file_sha256: str, line: Line) -> str:
    """The key a paid line is recorded under (unique in the store).

    With a line key: the issuing unit plus the line key, so no later batch of the same unit
    (a corrected file, another upload) can pay that line again. Without one: the unit, the
    file's content and the line's content, so the same file, uploaded again under any batch
    key, pays nothing twice (another file may well give the same person the same points).
    """
    if line.line_key is not None:
        return f"u:{unit_id.hex}:{line.line_key}"
    digest = hashlib.blake2b(line.content().encode(), digest_size=12).hexdigest()
    return f"f:{unit_id.hex}:{file_sha256[:32]}:{digest}"


def batch_fingerprint(unit_id: UUID, title: str, cap: int, sha256: str) -> str:
    return rules.fingerprint(["batch", str(unit_id), title, cap, sha256])
