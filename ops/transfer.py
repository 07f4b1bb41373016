"""``moralbank export`` and ``moralbank import``: the whole event log as JSON lines.

The first line is a header::

    {"format": "moralbank-export", "version": 1, "application": "moralbank",
     "exported_at": "...", "events": N, "log_end": ID}

then one line per stored event, in log order::

    {"id": 17, "originator_id": "…", "originator_version": 1, "topic": "ledger.domain:…",
     "state": {…}, "recorded_at": "…", "digest": "…", "hash": "…"}

``digest``, ``hash`` and ``recorded_at`` are the event's hash chain values (``ledger.chain``);
the header's ``chain_head`` is the hash of the last event. ``moralbank verify --file`` checks an
export with no database (``ops.verify_file``). Version 1 files (no chain) still import.

``state`` is the stored state decoded as JSON when re-encoding it the way eventsourcing's JSON
transcoder does gives back exactly the stored bytes; otherwise (compressed, encrypted, or any
other bytes) it is ``state_b64``. Either way an import stores the very same bytes.

An import goes into an empty store only. It checks the whole file before writing anything, then
inserts the stored events in order, in chunks, each chunk with the balance deltas of its
transactions so that the write side's guard table (volunteer balances) is rebuilt in the same
transactions; then the projections catch up. Notification ids are given by the target store: they
equal the exported ids unless the source log had gaps (PostgreSQL sequences skip ids of rolled-back
inserts), in which case the order is kept and the ids are renumbered densely. The chain does
not depend on the ids: an import checks the file's chain first, records each event with its
exported time, and checks that the store's chain comes out identical.
"""

from __future__ import annotations

import base64
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from api.context import Services
from ledger import rules
from ledger.accounts import Posting
from ledger.application import Ledger
from ledger.batches.rules import BATCH
from ledger.chain import GENESIS, event_digest, link
from ledger.lots.legacy import OPENED as LEGACY_LOTS_OPENED
from ledger.lots.legacy import writes_of_opened
from ledger.lots.model import LotWrites, writes_of
from ledger.postings import PostingRow, rows_of
from ledger.store.common import BalanceGuardViolation, LineKeyConflict
from ops.projecting import catch_up
from ops.verify import RECORDED

FORMAT = "moralbank-export"
VERSION = 2
READABLE = (1, 2)


class TransferError(Exception):
    """An export file that cannot be imported, or a store that must not receive one."""


class ImportRefused(TransferError):
    """The target store is not empty (or is another application's)."""


class BadExportFile(TransferError):
    """The file is not a complete, well-formed moralbank export."""


def _dumps_state(obj: Any) -> bytes:
    # Exactly as eventsourcing.persistence.JSONTranscoder encodes.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf8")


def encode_state(state: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(state.decode("utf8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        obj = None
    else:
        if _dumps_state(obj) == state:
            return {"state": obj}
    return {"state_b64": base64.b64encode(state).decode("ascii")}


def decode_state(line: dict[str, Any]) -> bytes:
    if "state" in line:
        return _dumps_state(line["state"])
    return base64.b64decode(line["state_b64"], validate=True)


# ------------------------------------------------------------------------------ export


@dataclass(frozen=True)
class ExportResult:
    events: int
    log_end: int
    seconds: float


def _count_events(ledger: Ledger, upto: int) -> int:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as c:
        if isinstance(recorder, PostgresApplicationRecorder):
            c.execute(
                SQL("SELECT COUNT(*) AS n FROM {0}.{1} WHERE notification_id <= %s").format(
                    Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
                ),
                (upto,),
            )
            return int(c.fetchone()["n"])
        c.execute(f"SELECT COUNT(*) AS n FROM {recorder.events_table_name} WHERE rowid <= ?", (upto,))
        return int(c.fetchone()[0])


def export_log(ledger: Ledger, out: TextIO, *, page: int = 1000) -> ExportResult:
    """Write the log as it stands when the export starts (later events are left out)."""
    started = time.perf_counter()
    upto = ledger.max_notification_id()
    count = _count_events(ledger, upto) if upto else 0
    recorder: Any = ledger.recorder
    head = recorder.select_chain_before_id(upto + 1) if upto else None
    header = {
        "format": FORMAT,
        "version": VERSION,
        "application": ledger.name,
        "exported_at": ledger.clock.now().isoformat(),
        "events": count,
        "log_end": upto,
        "chain_head": (head.hash if head else GENESIS).hex(),
    }
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    written = 0
    after = 0
    while after < upto:
        batch = recorder.select_notifications(after, page, stop=upto, inclusive_of_start=False)
        if not batch:
            break
        chain = {r.notification_id: r for r in recorder.select_chain(after, page, stop=batch[-1].id)}
        for n in batch:
            row = chain.get(n.id)
            if row is None:
                raise TransferError(f"event {n.id} has no chain row; is the store's chain incomplete?")
            line = {
                "id": n.id,
                "originator_id": str(n.originator_id),
                "originator_version": n.originator_version,
                "topic": n.topic,
                **encode_state(n.state),
                "recorded_at": row.recorded_at.isoformat(),
                "digest": row.digest.hex(),
                "hash": row.hash.hex(),
            }
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        written += len(batch)
        after = batch[-1].id
    if written != count:
        raise TransferError(f"read {written} events but counted {count}; is another process changing the log?")
    return ExportResult(events=written, log_end=upto, seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------ import


@dataclass
class ImportResult:
    events: int = 0
    transactions: int = 0
    renumbered: int = 0  # events whose notification id differs from the exported one
    projections: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _read_header(first: str) -> dict[str, Any]:
    try:
        header = json.loads(first)
    except ValueError as e:
        raise BadExportFile(f"the first line is not JSON: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadExportFile(f"not a {FORMAT} file")
    if header.get("version") not in READABLE:
        raise BadExportFile(f"unsupported export version {header.get('version')!r} (this build reads {READABLE})")
    if not isinstance(header.get("events"), int):
        raise BadExportFile("the header has no event count")
    return header


@dataclass(frozen=True)
class ChainValues:
    recorded_at: datetime
    digest: bytes
    hash: bytes


def _events(lines: Iterable[str], first_line_no: int = 2) -> Iterator[tuple[int, StoredEvent, ChainValues | None]]:
    last_id = 0
    for line_no, text in enumerate(lines, start=first_line_no):
        if not text.strip():
            continue
        try:
            d = json.loads(text)
            event_id = int(d["id"])
            stored = StoredEvent(
                originator_id=UUID(d["originator_id"]),
                originator_version=int(d["originator_version"]),
                topic=str(d["topic"]),
                state=decode_state(d),
            )
            chain = (
                ChainValues(datetime.fromisoformat(d["recorded_at"]), bytes.fromhex(d["digest"]), bytes.fromhex(d["hash"]))
                if "hash" in d
                else None
            )
        except (ValueError, KeyError, TypeError) as e:
            raise BadExportFile(f"line {line_no}: not an exported event ({e})") from None
        if event_id <= last_id:
            raise BadExportFile(f"line {line_no}: event id {event_id} is not after {last_id}")
        last_id = event_id
        yield event_id, stored, chain


def check_file(path: Path) -> dict[str, Any]:
    """Read the whole file once, recomputing its hash chain; raises BadExportFile (``moralbank
    verify --file`` says which event broke it). Returns the header."""
    h = GENESIS
    n = 0
    with path.open(encoding="utf8") as f:
        header = _read_header(f.readline())
        for event_id, s, chain in _events(f):
            n += 1
            if header["version"] < 2:
                continue
            if chain is None:
                raise BadExportFile(f"event {event_id} has no chain values")
            d = event_digest(s.originator_id, s.originator_version, s.topic, s.state)
            h = link(h, d)
            if (d, h) != (chain.digest, chain.hash):
                raise BadExportFile(f"the hash chain breaks at event {event_id}; run `moralbank verify --file` for details")
    if n != header["events"]:
        raise BadExportFile(f"the header announces {header['events']} events but the file holds {n} (truncated?)")
    if header["version"] >= 2 and h.hex() != header.get("chain_head"):
        raise BadExportFile("the file's last chain hash is not the header's chain_head (events missing at the end?)")
    return header


def _guard_deltas(
    ledger: Ledger, chunk: list[StoredEvent]
) -> tuple[list[tuple[str, int]], int, list[tuple[str, Any]], list[PostingRow], LotWrites]:
    """The chunk's balance deltas, its transaction count, its paid batch line keys, its
    posting rows (as the journal wrote them: ``ledger.postings.rows_of``) and its lots and
    drawings (``ledger.lots.model.writes_of``)."""
    nets: dict[str, int] = defaultdict(int)
    transactions = 0
    line_keys: list[tuple[str, Any]] = []
    rows: list[PostingRow] = []
    lots = LotWrites()
    for stored in chunk:
        if stored.topic == LEGACY_LOTS_OPENED:  # a lot for points of before lots (ledger.lots.legacy)
            opened: Any = ledger.mapper.to_domain_event(stored)
            lots.add(writes_of_opened(opened.originator_id, opened.account, opened.lot, opened.unit_id, opened.amount))
            continue
        if stored.topic != RECORDED:
            continue
        transactions += 1
        event: Any = ledger.mapper.to_domain_event(stored)
        for account, delta in rules.guarded_deltas([Posting.from_dict(p) for p in event.postings]):
            nets[account] += delta
        if event.kind == BATCH:
            line_keys += [(p["key"], event.originator_id) for p in event.postings if "key" in p]
        rows += rows_of(event.originator_id, event.__dict__, ledger.zone)
        lots.add(writes_of(event.originator_id, event.postings))
    return sorted((a, d) for a, d in nets.items() if d != 0), transactions, line_keys, rows, lots


def import_log(services: Services, path: Path, *, chunk_size: int = 1000) -> ImportResult:
    """Raises BadExportFile, ImportRefused, TransferError (a chunk the store refused)."""
    started = time.perf_counter()
    ledger = services.ledger
    header = check_file(path)
    if header.get("application") != ledger.name:
        raise ImportRefused(f"the file is an export of {header.get('application')!r}, not {ledger.name!r}")
    if ledger.max_notification_id() or ledger.guarded_balances():
        raise ImportRefused("the target store is not empty; import only into an empty store")

    result = ImportResult()

    recorder: Any = ledger.recorder

    def insert(ids: list[int], chunk: list[StoredEvent], chain: list[ChainValues | None]) -> None:
        deltas, transactions, line_keys, rows, lots = _guard_deltas(ledger, chunk)
        # Each event keeps the time it was first recorded (version 1 files: now).
        times = [c.recorded_at if c else ledger.clock.now() for c in chain]
        try:
            new_ids = recorder.insert_events(chunk, balance_deltas=deltas, line_keys=line_keys, postings=rows, lots=lots or None, recorded_at=times)
        except BalanceGuardViolation as e:
            raise TransferError(
                f"events {ids[0]}..{ids[-1]} would take {', '.join(e.accounts)} below zero; the export is not a valid log"
            ) from None
        except LineKeyConflict as e:
            raise TransferError(f"events {ids[0]}..{ids[-1]} pay a batch line key twice; the export is not a valid log: {e}") from None
        except IntegrityError as e:
            raise TransferError(f"events {ids[0]}..{ids[-1]} were refused by the store: {e}") from None
        result.events += len(chunk)
        result.transactions += transactions
        if new_ids is not None:
            result.renumbered += sum(1 for a, b in zip(ids, new_ids, strict=True) if a != b)
        last = chain[-1]
        if last is not None and new_ids:
            head = recorder.select_chain_before_id(new_ids[-1] + 1)
            if head is None or head.hash != last.hash:
                raise TransferError(f"the store's hash chain differs from the export's at event {ids[-1]}")

    with path.open(encoding="utf8") as f:
        f.readline()
        ids: list[int] = []
        chunk: list[StoredEvent] = []
        chain: list[ChainValues | None] = []
        for event_id, stored, values in _events(f):
            ids.append(event_id)
            chunk.append(stored)
            chain.append(values)
            if len(chunk) >= chunk_size:
                insert(ids, chunk, chain)
                ids, chunk, chain = [], [], []
        if chunk:
            insert(ids, chunk, chain)

    for follower in services.followers:
        if follower.position():
            result.projections[follower.name] = follower.rebuild()
        else:
            result.projections[follower.name] = catch_up(follower)
    result.seconds = time.perf_counter() - started
    return result

