"""``moralbank verify --file EXPORT``: check an export on any machine, with no database.

1. The hash chain (``ledger.chain``): each line's digest is recomputed from its event, and each
   line's hash must be ``sha256(previous line's hash + digest)``, from 32 zero bytes, up to the
   header's ``chain_head``. The FIRST line where this fails is named, with its position and ids:
   - its digest differs from its event: the event was **altered**;
   - its hash chains onto a line that comes later in the file: lines were **reordered**;
   - its hash chains onto no line of the file: an event before it was **removed** (or its
     chain values were edited);
   - the last line is not the header's ``chain_head`` or the count differs: events were
     removed at the end.
2. Every account is replayed from the events (``ops.replay``): invariants 1 to 4.

A file whose every line was rewritten with a recomputed chain is consistent with itself: compare
its ``chain_head`` (or the hash at a day's end) with a root published by
``GET /v1/ledger/roots`` to trust it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.chain import GENESIS, event_digest, link
from ops.replay import Replay
from ops.transfer import FORMAT, READABLE, _dumps_state
from ops.verify import LedgerTotals

CHAIN = 0  # the "invariant" number of a broken chain in reports


@dataclass(frozen=True)
class ChainBreak:
    kind: str  # "altered", "reordered", "removed", "truncated", "unreadable", "unchained"
    position: int  # 1-based position of the event in the file (line = position + 1)
    event_id: int | None
    originator_id: str | None
    originator_version: int | None
    previous_id: int | None  # the event before it in the file
    detail: str

    def __str__(self) -> str:
        where = f"event #{self.position} (line {self.position + 1}"
        if self.event_id is not None:
            where += f", id {self.event_id}, {self.originator_id} v{self.originator_version}"
        return f"{self.kind}: {where}): {self.detail}"


@dataclass
class FileReport(LedgerTotals):
    chain_head: str = ""
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.violations


class _Line:
    __slots__ = ("id", "oid", "version", "topic", "state", "digest", "hash", "recorded_at")

    def __init__(self, d: dict[str, Any]) -> None:
        self.id = int(d["id"])
        self.oid = str(d["originator_id"])
        self.version = int(d["originator_version"])
        self.topic = str(d["topic"])
        self.state = _dumps_state(d["state"]) if "state" in d else base64.b64decode(d["state_b64"], validate=True)
        self.digest = bytes.fromhex(d["digest"])
        self.hash = bytes.fromhex(d["hash"])
        self.recorded_at = datetime.fromisoformat(d["recorded_at"])


# A line as ``export`` writes it: compact JSON, keys in this order, the state inline. Its state is
# then the very text of the stored bytes (export writes it inline only when re-encoding gives
# them back, and the chain digest is checked over it), so it is hashed as read, never re-encoded.
_HEAD = re.compile(
    r'\{"id":(\d+),"originator_id":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",'
    r'"originator_version":(\d+),"topic":"([^"\\]+)","state":\{'
)
_TAIL = re.compile(r',"recorded_at":"([^"\\]+)","digest":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}\s*\Z')
_TAIL_KEY = ',"recorded_at":"'


def _parse(text: str) -> _Line:
    """A line as written by ``export``, read by position (one regular expression each end); any
    other shape of line, through the JSON parser."""
    head = _HEAD.match(text)
    if head is not None:
        cut = text.rfind(_TAIL_KEY)
        tail = _TAIL.match(text, cut) if cut > head.end() else None
        if tail is not None:
            line = _Line.__new__(_Line)
            line.id, line.oid, line.version, line.topic = int(head[1]), head[2], int(head[3]), head[4]
            line.state = text[head.end() - 1 : cut].encode()
            line.recorded_at = datetime.fromisoformat(tail[1])
            line.digest, line.hash = bytes.fromhex(tail[2]), bytes.fromhex(tail[3])
            return line
    return _Line(json.loads(text))


def _digest(line: _Line) -> bytes:
    """``ledger.chain.event_digest``, from the originator id's canonical text when the line has it."""
    if len(line.oid) == 36 and line.oid.islower():
        return hashlib.sha256(f"{line.oid}\n{line.version}\n{line.topic}\n".encode() + line.state).digest()
    return event_digest(line.oid, line.version, line.topic, line.state)


def verify_file(path: Path) -> FileReport:
    """Never raises for a damaged file: it reports. Raises OSError for an unreadable path."""
    started = time.perf_counter()
    report = FileReport()
    replay = Replay(report.add)
    with path.open(encoding="utf8") as f:
        header = _header(f.readline(), report)
        if header is not None:
            _walk(f, header, report, replay, path)
    replay.finish()
    report.take_totals(replay)
    report.seconds = time.perf_counter() - started
    return report


def _header(first: str, report: FileReport) -> dict[str, Any] | None:
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        report.first_break = ChainBreak("unreadable", 0, None, None, None, None, f"not a {FORMAT} file")
        return None
    if header.get("version") not in READABLE or header.get("version", 0) < 2:
        report.first_break = ChainBreak(
            "unchained", 0, None, None, None, None, f"export version {header.get('version')!r} carries no hash chain"
        )
        return None
    return header


def _walk(f: Any, header: dict[str, Any], report: FileReport, replay: Replay, path: Path) -> None:
    h = GENESIS
    previous: _Line | None = None
    previous_at: datetime | None = None
    position = 0
    for text in f:
        if not text.strip():
            continue
        position += 1
        try:
            line = _parse(text)
        except (ValueError, KeyError, TypeError) as e:
            _break(report, ChainBreak("unreadable", position, None, None, None, previous.id if previous else None,
                                      f"not an exported event ({e!r})"))
            continue
        replay.feed(line.id, line.topic, line.oid, line.state)
        if report.first_break is not None:
            continue
        d = _digest(line)
        if d != line.digest:
            _break(report, _at(line, position, previous, "altered",
                               "its digest does not match its content: the event was changed after it was recorded"))
        elif link(h, d) != line.hash:
            _break(report, _misplaced(path, line, position, previous, d))
        elif previous_at is not None and line.recorded_at < previous_at:
            report.add(CHAIN, f"event {line.id} is recorded at {line.recorded_at.isoformat()}, before the event ahead of it")
        h, previous, previous_at = line.hash, line, line.recorded_at
    report.chain_head = h.hex()
    if report.first_break is None:
        if position != header.get("events") or h.hex() != header.get("chain_head"):
            _break(report, ChainBreak(
                "truncated", position + 1, None, None, None, previous.id if previous else None,
                f"the file ends after {position} event(s) with chain hash {h.hex()[:16]}…; the header announces "
                f"{header.get('events')} ending with {str(header.get('chain_head'))[:16]}…: events were removed at the end",
            ))


def _at(line: _Line, position: int, previous: _Line | None, kind: str, detail: str) -> ChainBreak:
    return ChainBreak(kind, position, line.id, line.oid, line.version, previous.id if previous else None, detail)


def _misplaced(path: Path, line: _Line, position: int, previous: _Line | None, digest: bytes) -> ChainBreak:
    """The line's own digest is right but it does not chain onto the line before it: find the
    line it does chain onto (a second pass over the file, once)."""
    if link(GENESIS, digest) == line.hash:
        return _at(line, position, previous, "reordered", "it is the log's first event, found at this position")
    with path.open(encoding="utf8") as f:
        f.readline()
        q = 0
        for text in f:
            if not text.strip():
                continue
            q += 1
            try:
                other = _parse(text)
            except (ValueError, KeyError, TypeError):
                continue
            if link(other.hash, digest) == line.hash:
                return _at(line, position, previous, "reordered",
                           f"it belongs right after event #{q} (id {other.id}), not after id {previous.id if previous else None}")
    return _at(line, position, previous, "removed",
               f"the event recorded before it is not in the file (between id {previous.id if previous else None} "
               f"and id {line.id}), or its chain values were edited")


def _break(report: FileReport, brk: ChainBreak) -> None:
    if report.first_break is None:
        report.first_break = brk
        report.add(CHAIN, str(brk))
