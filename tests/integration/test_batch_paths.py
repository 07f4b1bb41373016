"""The batch's fast paths give the same answers as the slow ones (both stores):
- volunteers and member numbers are resolved by the database from the stored events, a move
  included (the last event wins), so a moved volunteer is in the scope of the new unit only;
- the accounts projection applies a whole chunk in one statement on PostgreSQL (row by row on
  SQLite): the balances and entries it writes are the figures the rules give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invariants import assert_invariants

from ledger.accounts import issuing_account, volunteer_account
from ops.verify import verify
from projections.accounts import BULK_POSTINGS


def _run(services: Any, tmp_path: Path, name: str, lines: list[str], unit: Any, scope: Any) -> Any:
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join(["volunteer,points,minutes,line_key,memo", *lines]) + "\n", encoding="utf-8")
    batches = services.batches
    sub = batches.submit(batches.spool_file(path), "csv", key=name, title="公益日", unit_id=unit, scope=scope, actor="t")
    return batches.run(sub.batch.id)


def test_moved_volunteers_and_member_numbers_resolve_to_their_last_unit(services: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    east = ledger.create_unit("东社区", "community", street.id)
    west = ledger.create_unit("西社区", "community", street.id)
    mover = ledger.register_volunteer("李明", east.id, member_no="QH-1")
    stayer = ledger.register_volunteer("王芳", east.id)
    ledger.move_volunteer(mover.id, west.id)
    lines = [f"{mover.id},5,,A1,", "QH-1,6,,A2,", f"{stayer.id},7,,A3,", "QH-404,1,,A4,"]

    in_east = _run(services, tmp_path, "east", lines, east.id, [east.id])
    assert [(r[0], r[1]) for r in in_east.refused] == [
        (2, "volunteer_out_of_scope"), (3, "volunteer_out_of_scope"), (5, "unknown_volunteer"),
    ]
    assert in_east.accepted == 1 and in_east.points == 7

    in_west = _run(services, tmp_path, "west", lines, west.id, [west.id])
    assert [(r[0], r[1]) for r in in_west.refused] == [(4, "volunteer_out_of_scope"), (5, "unknown_volunteer")]
    assert in_west.accepted == 2 and in_west.points == 11
    assert ledger.guarded_balance(volunteer_account(mover.id)) == 11


def test_a_large_chunk_projects_the_figures_of_the_rules(services: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    volunteers = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(BULK_POSTINGS + 6)]
    first = volunteers[0]
    # The first volunteer three times in the chunk: points and minutes add up, the first memo given wins.
    lines = [f"{first.id},2,60,L0,", f"{first.id},3,0,L1,扫街", f"{first.id},4,30,L2,别的"]
    lines += [f"{v.id},{1 + i % 5},{i % 3 * 30},M{i}," for i, v in enumerate(volunteers[1:])]
    before = _run(services, tmp_path, "warm-up", [f"{first.id},10,0,W0,"], street.id, None)
    assert before.accepted == 1
    batch = _run(services, tmp_path, "big", lines, street.id, None)
    assert batch.accepted == len(lines) and len(batch.transactions) == 1
    services.catch_up()

    with services.db.read() as tx:
        rows = {r["account"]: r for r in tx.all("SELECT * FROM balances")}
        seq = int(tx.one("SELECT max(seq) AS s FROM entries")["s"])  # type: ignore[index]
        entries = {r["account"]: r for r in tx.all("SELECT * FROM entries WHERE seq = %s", (seq,))}
    mine = volunteer_account(first.id)
    assert {k: int(rows[mine][k]) for k in ("balance", "earned", "redeemed", "minutes", "entries")} == {
        "balance": 19, "earned": 19, "redeemed": 0, "minutes": 90, "entries": 2,
    }
    assert rows[mine]["kind"] == "volunteer"
    entry = entries[mine]
    assert (int(entry["amount"]), int(entry["balance_after"]), int(entry["minutes"]), entry["memo"]) == (9, 19, 90, "扫街")
    assert entry["counterparty"] == issuing_account(street.id) and entry["kind"] == "batch"
    assert entry["transaction_id"] == str(batch.transactions[0])
    other = volunteer_account(volunteers[2].id)
    assert (int(entries[other]["amount"]), entries[other]["memo"]) == (2, "公益日")  # no memo: the batch's title
    issuing = entries[issuing_account(street.id)]
    total = 9 + sum(1 + i % 5 for i in range(len(volunteers) - 1))
    assert (int(issuing["amount"]), int(issuing["balance_after"]), issuing["counterparty"]) == (-total, -total - 10, "several")
    assert int(rows[issuing_account(street.id)]["earned"]) == 0 and rows[issuing_account(street.id)]["kind"] == "issuing"
    assert len(entries) == len(volunteers) + 1
    report = verify(services)
    assert report.ok, report.violations[:5]
    assert_invariants(services)
