"""Pure rules of a roster import: which column is which, what a line must hold, which unit it
names, and what to do with a member number already registered. No I/O; table-tested in
tests/unit/test_roster_rules.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from ledger import rules
from ledger.errors import InvalidRequest

MAX_LINES = 20_000
PATH_SEPARATORS = ("/", "／", ">", "＞", "\\")

# Outcomes of a line.
REGISTERED, ALREADY_REGISTERED, REFUSED = "registered", "already_registered", "refused"

# Why a line is refused (the stable reason codes of the report).
UNREADABLE_LINE = "unreadable_line"
INVALID_NAME = "invalid_name"
MISSING_MEMBER_NO = "missing_member_no"
INVALID_MEMBER_NO = "invalid_member_no"
INVALID_PHONE = "invalid_phone_last4"
MISSING_UNIT = "missing_unit"
UNKNOWN_UNIT = "unknown_unit"
AMBIGUOUS_UNIT = "ambiguous_unit"
UNIT_OUT_OF_SCOPE = "unit_out_of_scope"
DUPLICATE_LINE = "duplicate_line"
MEMBER_NO_TAKEN = "member_no_taken_by_other"
REASONS = (
    UNREADABLE_LINE, INVALID_NAME, MISSING_MEMBER_NO, INVALID_MEMBER_NO, INVALID_PHONE, MISSING_UNIT,
    UNKNOWN_UNIT, AMBIGUOUS_UNIT, UNIT_OUT_OF_SCOPE, DUPLICATE_LINE, MEMBER_NO_TAKEN,
)

# Header names (normalised: lower case, no spaces, brackets or underscores) → field.
HEADERS: dict[str, str] = {
    "name": "name", "姓名": "name", "志愿者": "name", "志愿者姓名": "name", "名字": "name",
    "memberno": "member_no", "membernumber": "member_no", "member": "member_no", "会员号": "member_no",
    "会员编号": "member_no", "志愿者编号": "member_no", "编号": "member_no",
    "unit": "unit", "homeunit": "unit", "unitid": "unit", "单元": "unit", "所属单元": "unit", "住址": "unit",
    "网格": "unit", "所属网格": "unit", "小区楼栋": "unit", "家庭住址": "unit",
    "phonelast4": "phone_last4", "phone": "phone_last4", "手机尾号": "phone_last4", "手机后四位": "phone_last4",
    "电话后四位": "phone_last4", "尾号": "phone_last4",
}
REQUIRED = ("name", "member_no", "unit")


def normalise_header(name: str) -> str:
    text = name.strip().lstrip("\ufeff").lower()
    for ch in " _-()（）[]【】:：":
        text = text.replace(ch, "")
    return text


def columns(header: Sequence[str]) -> list[str | None]:
    """The field of each column; raises ValueError naming the required fields the header lacks."""
    fields = [HEADERS.get(normalise_header(h)) for h in header]
    missing = [f for f in REQUIRED if f not in fields]
    if missing:
        raise ValueError(", ".join(missing))
    return fields


@dataclass(frozen=True)
class Line:
    """A roster line that passed the rules of its own values."""

    name: str
    member_no: str
    unit: str  # as written: an id or a name path
    phone_last4: str | None


def check_line(fields: Mapping[str, str]) -> Line | str:
    """The line's values, checked, or the reason code it is refused for."""
    try:
        name = rules.check_text(fields.get("name", ""), "name", max_length=100)
    except InvalidRequest:
        return INVALID_NAME
    member_no_text = (fields.get("member_no") or "").strip()
    if not member_no_text:
        return MISSING_MEMBER_NO
    try:
        member_no = rules.check_text(member_no_text, "member_no", max_length=40)
    except InvalidRequest:
        return INVALID_MEMBER_NO
    phone = (fields.get("phone_last4") or "").strip() or None
    try:
        rules.check_phone_last4(phone)
    except InvalidRequest:
        return INVALID_PHONE
    unit = (fields.get("unit") or "").strip()
    if not unit:
        return MISSING_UNIT
    return Line(name=name, member_no=member_no, unit=unit, phone_last4=phone)


def split_path(text: str) -> tuple[str, ...]:
    for sep in PATH_SEPARATORS[1:]:
        text = text.replace(sep, PATH_SEPARATORS[0])
    return tuple(part.strip() for part in text.split(PATH_SEPARATORS[0]) if part.strip())


def resolve_unit(text: str, paths: Mapping[tuple[str, ...], UUID]) -> UUID | str:
    """The unit a line names: its id, its full name path from the root (``青禾街道/丹桂社区/3号小区``), or
    the end of a path that only one unit has (``丹桂社区/3号小区``); else the reason code."""
    try:
        unit_id = UUID(text.strip())
    except ValueError:
        pass
    else:
        return unit_id if unit_id in paths.values() else UNKNOWN_UNIT
    wanted = split_path(text)
    if not wanted:
        return MISSING_UNIT
    if wanted in paths:
        return paths[wanted]
    found = {u for p, u in paths.items() if len(p) > len(wanted) and p[-len(wanted):] == wanted}
    if len(found) == 1:
        return found.pop()
    return AMBIGUOUS_UNIT if found else UNKNOWN_UNIT


def name_paths(units: Sequence[tuple[UUID, str, UUID | None]]) -> dict[tuple[str, ...], UUID]:
    """(id, name, parent id) of every unit → each unit's name path from the root."""
    by_id = {u: (name, parent) for u, name, parent in units}
    out: dict[tuple[str, ...], UUID] = {}
    for unit_id in by_id:
        path: list[str] = []
        current: UUID | None = unit_id
        seen: set[UUID] = set()
        while current is not None and current in by_id and current not in seen:
            seen.add(current)
            name, parent = by_id[current]
            path.append(name)
            current = parent
        out[tuple(reversed(path))] = unit_id
    return out


def decide_existing(line: Line, registered_name: str | None) -> str:
    """What a line whose member number is already registered comes to: the same person (by
    name) is already registered, anyone else is a refusal. ``None``: not registered yet."""
    if registered_name is None:
        return REGISTERED
    if registered_name.strip() == line.name:
        return ALREADY_REGISTERED
    return MEMBER_NO_TAKEN
