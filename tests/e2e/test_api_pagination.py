"""Cursor pagination walks every entry exactly once, newest first."""

from __future__ import annotations

from typing import Any

ENTRIES = 20  # 1 seed credit + 18 credits + 1 reversal


def walk(client: Any, path: str, headers: dict[str, str], limit: int) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get(path, params=params, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        pages += 1
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert body["items"], "a page with a next cursor is never empty"
        assert pages <= ENTRIES + 1


def test_pagination_walks_every_entry_once(town: Any) -> None:
    txns = [town.credit(points=i + 1) for i in range(18)]
    town.ledger.reverse(txns[3])
    town.services.catch_up()
    account = town.client.get("/v1/me/account", headers=town.headers("vol_own")).json()
    assert account["entries"] == ENTRIES
    views = [("/v1/me/entries", town.headers("vol_own")), (f"/v1/volunteers/{town.vol_own}/entries", town.headers("org_in"))]
    for path, headers in views:
        for limit in (1, 3, 4, 5, 7, 19, 20, 21, 50, 200):
            items, pages = walk(town.client, path, headers, limit)
            seqs = [e["seq"] for e in items]
            assert len(seqs) == len(set(seqs)) == ENTRIES, (path, limit)
            assert seqs == sorted(seqs, reverse=True)
            assert pages == max(1, -(-ENTRIES // limit)), (path, limit)  # no empty trailing page
            assert items[0]["balance_after"] == account["balance"] == sum(e["amount"] for e in items)
            reversal = next(e for e in items if e["kind"] == "reversal")
            assert reversal["reverses"] == str(txns[3]) and reversal["amount"] == -4


def test_new_entries_do_not_disturb_a_walk(town: Any) -> None:
    for _ in range(9):
        town.credit(points=1)
    town.services.catch_up()
    c, headers = town.client, town.headers("vol_own")
    first = c.get("/v1/me/entries", params={"limit": 4}, headers=headers).json()
    for _ in range(5):
        town.credit(points=2)
    town.services.catch_up()
    rest, _ = walk_from(c, headers, first["next_cursor"])
    seqs = [e["seq"] for e in first["items"] + rest]
    assert len(seqs) == len(set(seqs)) == 10
    assert all(e["amount"] != 2 for e in rest)


def walk_from(client: Any, headers: dict[str, str], cursor: str) -> tuple[list[dict[str, Any]], int]:
    items, pages = [], 0
    while cursor is not None:
        body = client.get("/v1/me/entries", params={"limit": 4, "cursor": cursor}, headers=headers).json()
        items += body["items"]
        cursor, pages = body["next_cursor"], pages + 1
    return items, pages


def test_an_account_with_no_entries(town: Any) -> None:
    page = town.client.get("/v1/me/entries", headers=town.headers("vol_other")).json()
    assert page == {"items": [], "next_cursor": None}
    account = town.client.get("/v1/me/account", headers=town.headers("vol_other")).json()
    assert {k: account[k] for k in ("balance", "earned", "redeemed", "minutes")} == dict.fromkeys(
        ("balance", "earned", "redeemed", "minutes"), 0
    )
