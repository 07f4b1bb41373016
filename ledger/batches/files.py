"""Reading a welfare-day file: CSV (UTF-8 with or without BOM, or GB18030 as Chinese Excel saves
it; a header row) or JSON lines. Streamed: one record at a time, nothing per line kept.

Pure reading; the only I/O is the file it is given.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ledger.batches.errors import BadBatchFile, BatchTooLarge
from ledger.batches.rules import MAX_LINES

CSV, NDJSON = "csv", "ndjson"
MEDIA_TYPES = {
    "text/csv": CSV,
    "application/csv": CSV,
    "application/x-ndjson": NDJSON,
    "application/jsonl": NDJSON,
    "application/json-lines": NDJSON,
}
_READ = 1 << 20

# Header names (normalised: lower case, no spaces, brackets or underscores) → field.
HEADERS: dict[str, str] = {
    "volunteer": "volunteer", "志愿者": "volunteer", "志愿者姓名或编号": "volunteer",
    "volunteerid": "volunteer_id", "id": "volunteer_id", "志愿者id": "volunteer_id",
    "memberno": "member_no", "membernumber": "member_no", "member": "member_no",
    "会员号": "member_no", "会员编号": "member_no", "志愿者编号": "member_no", "编号": "member_no",
    "points": "points", "积分": "points", "发放积分": "points",
    "minutes": "minutes", "分钟": "minutes", "时长": "minutes", "服务时长": "minutes", "服务时长分钟": "minutes",
    "时长分钟": "minutes",
    "linekey": "line_key", "key": "line_key", "行键": "line_key", "序号": "line_key", "流水号": "line_key",
    "memo": "memo", "note": "memo", "备注": "memo", "说明": "memo",
}


def normalise_header(name: str) -> str:
    text = name.strip().lstrip("\ufeff").lower()
    for ch in " _-()（）[]【】:：":
        text = text.replace(ch, "")
    return text


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-8``, or ``gb18030``; raises BadBatchFile."""
    with path.open("rb") as f:
        head = f.read(3)
    if head == codecs.BOM_UTF8:
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as f:
                while block := f.read(_READ):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise BadBatchFile("the file is neither UTF-8 nor GB18030 text")


def _columns(header: list[str]) -> list[str | None]:
    fields = [HEADERS.get(normalise_header(h)) for h in header]
    present = {f for f in fields if f}
    if not present & {"volunteer", "volunteer_id", "member_no"}:
        raise BadBatchFile(
            "the header names no volunteer column (volunteer_id, member_no or volunteer; 志愿者ID, 会员号)",
            header=header[:20],
        )
    if "points" not in present:
        raise BadBatchFile("the header names no points column (points, 积分)", header=header[:20])
    return fields


def records(path: Path, fmt: str, encoding: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number in the file, fields) per record; fields None for a line that cannot be read.

    Blank lines are skipped. Raises BadBatchFile for a missing or unusable CSV header.
    """
    if fmt == CSV:
        yield from _csv_records(path, encoding)
    elif fmt == NDJSON:
        yield from _ndjson_records(path, encoding)
    else:
        raise BadBatchFile(f"unknown batch format {fmt!r}")


def _csv_records(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise BadBatchFile("the file is empty; a header row is required") from None
        except csv.Error as e:
            raise BadBatchFile(f"the header row cannot be read: {e}") from None
        columns = _columns(header)
        width = len(columns)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield reader.line_num, None
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > width and any(cell.strip() for cell in row[width:]):
                yield reader.line_num, None
                continue
            fields = {c: row[i] for i, c in enumerate(columns) if c and i < len(row)}
            yield reader.line_num, fields


def _ndjson_records(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    with path.open(encoding=encoding, newline="\n") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                yield number, None
                continue
            if not isinstance(obj, dict):
                yield number, None
                continue
            yield number, {HEADERS[k]: v for k, v in ((normalise_header(str(k)), v) for k, v in obj.items()) if k in HEADERS}


def lines_as_written(path: Path, fmt: str, encoding: str, wanted: Iterable[int]) -> tuple[list[str], dict[int, list[str]]]:
    """The file's header as written and the cells of the wanted lines as written, by the same line
    numbers ``records`` gives (a refused line's own values, to hand back to the organizer).

    CSV: the header row, and each wanted record's cells (none for a line the CSV reader cannot
    read). JSON lines: the names of the wanted objects in the order first met, and their values
    (strings as written, anything else as JSON). Streamed; only the wanted lines are kept.
    """
    want = set(wanted)
    found: dict[int, list[str]] = {}
    if fmt == CSV:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.reader(f)
            try:
                header = [h.lstrip("\ufeff") for h in next(reader)]
            except (StopIteration, csv.Error):
                return [], {}
            while want - found.keys():
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    if reader.line_num in want:
                        found[reader.line_num] = []
                    continue
                if reader.line_num in want:
                    found[reader.line_num] = row
        return header, found
    names: dict[str, None] = {}
    objects: dict[int, dict[str, Any]] = {}
    with path.open(encoding=encoding, newline="\n") as f:
        for number, text in enumerate(f, start=1):
            if number not in want:
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            objects[number] = obj if isinstance(obj, dict) else {}
            names.update(dict.fromkeys(str(k) for k in objects[number]))
    header = list(names)
    for number, obj in objects.items():
        values = {str(k): v for k, v in obj.items()}
        found[number] = [_as_written(values[h]) if h in values else "" for h in header]
    return header, found


def _as_written(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def inspect(path: Path, fmt: str) -> tuple[str, int]:
    """Check a whole file before anything is written: (encoding, number of records).

    Raises BadBatchFile, BatchTooLarge.
    """
    encoding = detect_encoding(path)
    count = 0
    for _ in records(path, fmt, encoding):
        count += 1
        if count > MAX_LINES:
            raise BatchTooLarge(f"a batch holds at most {MAX_LINES} lines", max_lines=MAX_LINES)
    if count == 0:
        raise BadBatchFile("the file holds no lines to credit")
    return encoding, count
