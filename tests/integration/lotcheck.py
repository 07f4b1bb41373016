"""An independent replay of lots from the log, for the tests (it does not reuse ``ops.verify``):
every drawing takes from a lot no more than it holds at that moment in log order, an expiry takes
only a lot past its last day, and the end state equals the store's lots table."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from ledger.accounts import is_volunteer
from ledger.domain import LedgerTransaction


def replay_lots(ledger: Any) -> dict[str, Any]:
    zone: ZoneInfo = ledger.zone
    lots: dict[str, dict[str, Any]] = {}
    balances: dict[str, int] = defaultdict(int)
    expiries: dict[str, int] = defaultdict(int)
    drawings: dict[str, list[tuple[str, str, int]]] = {}  # per transaction key
    problems: list[str] = []
    for n in ledger.iter_notifications():
        event = ledger.mapper.to_domain_event(n)
        if not isinstance(event, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
            continue
        day = event.at.astimezone(zone).date()
        for seq, p in enumerate(event.postings):
            src, dst, amount = p["source"], p["destination"], p["amount"]
            balances[src] -= amount
            balances[dst] += amount
            if "opens" in p:
                o = p["opens"]
                lots[o["lot"]] = {"account": dst, "unit": o["unit"], "amount": amount, "remaining": amount,
                                  "expires_on": date.fromisoformat(o["expires_on"]) if o["expires_on"] else None}
            for lot, unit, n_ in p.get("restores", ()):
                lots[lot]["remaining"] += n_
                if lots[lot]["remaining"] > lots[lot]["amount"]:
                    problems.append(f"{lot} given back more than it had")
            if is_volunteer(src):
                draws = p.get("draws")
                if draws is None:
                    problems.append(f"{event.key}: a debit without a drawing")
                    continue
                if sum(d[2] for d in draws) != amount:
                    problems.append(f"{event.key}: drawing {draws} does not sum to {amount}")
                for lot, unit, n_ in draws:
                    if lots[lot]["account"] != src or lots[lot]["unit"] != unit:
                        problems.append(f"{event.key}: draws another's lot {lot}")
                    lots[lot]["remaining"] -= n_
                    if lots[lot]["remaining"] < 0:
                        problems.append(f"{event.key}: lot {lot} below zero (spent twice)")
                    if dst.startswith("expired:"):
                        expiries[lot] += 1 if event.kind == "expiry" else 0
                        last = lots[lot]["expires_on"]
                        if last is None or day <= last:
                            problems.append(f"{event.key}: expired {lot} before its date")
                drawings[event.key] = drawings.get(event.key, []) + [(lot, unit, n_) for lot, unit, n_ in draws]
            if is_volunteer(src) and balances[src] < 0:
                problems.append(f"{src} below zero at {n.id}")
    problems += [f"{lot} expired {k} times" for lot, k in expiries.items() if k > 1]
    by_account: dict[str, int] = defaultdict(int)
    for lot in lots.values():
        by_account[lot["account"]] += lot["remaining"]
    problems += [f"{a}: lots {by_account.get(a, 0)} != balance {b}" for a, b in balances.items() if is_volunteer(a) and by_account.get(a, 0) != b]
    stored = {x.lot: x.remaining for x in ledger.recorder.select_lots(limit=10**9)}
    if stored != {k: v["remaining"] for k, v in lots.items()}:
        problems.append("the lots table differs from the replay")
    return {"lots": lots, "balances": dict(balances), "drawings": drawings, "problems": problems}
