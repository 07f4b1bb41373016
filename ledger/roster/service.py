"""Importing a roster: the whole file is read and checked first (a file that cannot be read is
refused before anything is written), then each line is decided by ``rules`` and registered
through the Ledger's public API. The member number is the key: importing the same file again
registers nobody twice."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from ledger import rules as ledger_rules
from ledger.application import Ledger
from ledger.batches.errors import BadBatchFile
from ledger.batches.files import detect_encoding
from ledger.domain import Volunteer
from ledger.errors import Duplicate, NotFound
from ledger.roster import rules
from ledger.roster.errors import BadRosterFile, RosterTooLarge


@dataclass(frozen=True)
class LineReport:
    line: int  # line number in the file (the header is line 1)
    cells: list[str]  # the line as written, column by column
    values: dict[str, str]  # name, member_no, unit, phone_last4 as written
    outcome: str  # rules.REGISTERED, ALREADY_REGISTERED or REFUSED
    reason: str | None = None  # one of rules.REASONS when refused
    volunteer_id: UUID | None = None
    unit_id: UUID | None = None


@dataclass
class RosterReport:
    encoding: str
    header: list[str]
    lines: list[LineReport] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)


@dataclass(frozen=True)
class RosterFile:
    encoding: str
    header: list[str]
    fields: list[str | None]
    rows: list[tuple[int, list[str] | None]]  # (line number, cells); None: the line cannot be read


def read_roster(path: Path) -> RosterFile:
    """Read and check the whole file. Raises BadRosterFile, RosterTooLarge."""
    try:
        encoding = detect_encoding(path)
    except BadBatchFile:
        raise BadRosterFile("the file is neither UTF-8 nor GB18030 text") from None
    rows: list[tuple[int, list[str] | None]] = []
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise BadRosterFile("the file is empty; a header row is required") from None
        except csv.Error as e:
            raise BadRosterFile(f"the header row cannot be read: {e}") from None
        header = [h.lstrip("\ufeff").strip() for h in header]
        try:
            fields = rules.columns(header)
        except ValueError as e:
            raise BadRosterFile(
                f"the header names no column for: {e} (name, member_no, unit; 姓名, 会员号, 所属单元)", header=header[:20]
            ) from None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                rows.append((reader.line_num, None))
                continue
            if not any(cell.strip() for cell in row):
                continue
            rows.append((reader.line_num, row))
            if len(rows) > rules.MAX_LINES:
                raise RosterTooLarge(f"a roster holds at most {rules.MAX_LINES} lines", max_lines=rules.MAX_LINES)
    if not rows:
        raise BadRosterFile("the file holds no volunteers")
    return RosterFile(encoding, header, fields, rows)


class RosterService:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def import_file(
        self, path: Path, *, unit_paths: Mapping[tuple[str, ...], UUID], scope: Sequence[UUID] | None
    ) -> RosterReport:
        """``unit_paths``: each unit's name path (``rules.name_paths``); ``scope``: the units the
        caller may register into (None: all). Raises BadRosterFile, RosterTooLarge (nothing written)."""
        roster = read_roster(path)
        report = RosterReport(roster.encoding, roster.header)
        seen: set[str] = set()
        in_scope: dict[UUID, bool] = {}
        for number, cells in roster.rows:
            if cells is None:
                report.lines.append(LineReport(number, [], {}, rules.REFUSED, rules.UNREADABLE_LINE))
                continue
            values = {f: cells[i].strip() for i, f in enumerate(roster.fields) if f and i < len(cells)}
            report.lines.append(self._line(number, cells, values, unit_paths, scope, seen, in_scope))
        return report

    def _line(
        self, number: int, cells: list[str], values: dict[str, str], unit_paths: Mapping[tuple[str, ...], UUID],
        scope: Sequence[UUID] | None, seen: set[str], in_scope: dict[UUID, bool],
    ) -> LineReport:
        def refused(reason: str, unit_id: UUID | None = None) -> LineReport:
            return LineReport(number, cells, values, rules.REFUSED, reason, unit_id=unit_id)

        line = rules.check_line(values)
        if isinstance(line, str):
            return refused(line)
        if line.member_no in seen:
            return refused(rules.DUPLICATE_LINE)
        seen.add(line.member_no)
        unit_id = rules.resolve_unit(line.unit, unit_paths)
        if isinstance(unit_id, str):
            return refused(unit_id)
        if unit_id not in in_scope:
            try:
                ancestry = self.ledger.unit_ancestry(unit_id)
            except NotFound:
                return refused(rules.UNKNOWN_UNIT)
            in_scope[unit_id] = scope is None or ledger_rules.within_scope(ancestry, scope)
        if not in_scope[unit_id]:
            return refused(rules.UNIT_OUT_OF_SCOPE)
        for _ in range(2):  # a second look when another import registered the number meanwhile
            existing = self._registered(line.member_no)
            outcome = rules.decide_existing(line, existing.name if existing else None)
            if outcome == rules.MEMBER_NO_TAKEN:
                return refused(outcome, unit_id)
            if outcome == rules.ALREADY_REGISTERED:
                assert existing is not None
                return LineReport(number, cells, values, outcome, volunteer_id=existing.id, unit_id=existing.unit_id)
            try:
                volunteer = self.ledger.register_volunteer(
                    line.name, unit_id, phone_last4=line.phone_last4, member_no=line.member_no
                )
            except Duplicate:
                continue
            return LineReport(number, cells, values, rules.REGISTERED, volunteer_id=volunteer.id, unit_id=unit_id)
        return refused(rules.MEMBER_NO_TAKEN, unit_id)

    def _registered(self, member_no: str) -> Volunteer | None:
        try:
            return self.ledger.find_volunteer_by_member_no(member_no)
        except NotFound:
            return None
