"""Daily roots and entry proofs over HTTP, on each store; the README's checker, run as written."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from ledger.chain import GENESIS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_checker() -> Any:
    """The code block under "Check a proof yourself", executed exactly as the README prints it."""
    text = README.read_text(encoding="utf8")
    section = text.split("### Check a proof yourself", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["check"]


def roots(town: Any, first: str, last: str) -> dict[str, dict[str, Any]]:
    r = town.client.get(f"/v1/ledger/roots?from={first}&to={last}")
    assert r.status_code == 200, r.text
    return {item["day"]: item for item in r.json()["items"]}


def test_roots_and_proofs_across_days(town: Any) -> None:
    clock = town.services.clock
    check = readme_checker()
    day1 = clock.now().astimezone(town.services.settings.zone).date()
    first = town.credit(points=5)
    town.credit(town.vol_other, points=3, unit="community_b")
    clock.advance(days=1)
    town.credit(points=2)
    day1_roots = roots(town, str(day1 - timedelta(days=1)), str(day1 + timedelta(days=5)))
    assert list(day1_roots) == [str(day1 - timedelta(days=1)), str(day1), str(day1 + timedelta(days=1))]  # not after today
    before, d1, d2 = day1_roots.values()
    assert before["root"] == GENESIS.hex() and before["events"] == 0 and before["last_notification_id"] is None
    assert d1["complete"] and not d2["complete"] and d2["events"] == 1
    assert d2["last_notification_id"] == town.head()

    proof = town.client.get(f"/v1/me/entries/{first}/proof", headers=town.headers("vol_own"))
    assert proof.status_code == 200, proof.text
    body = proof.json()
    assert body["day"] == str(day1) and body["root"] == d1["root"]
    assert len(body["following_digests"]) == 1  # the other volunteer's credit, the last event of day 1
    assert check(body, d1["root"])
    # Any change to what the volunteer holds breaks it.
    tampered = {**body, "event": {**body["event"], "state": body["event"]["state"].replace('"amount":5', '"amount":50')}}
    assert tampered["event"]["state"] != body["event"]["state"]
    assert not check(tampered, d1["root"])
    assert not check(body, d2["root"])
    dropped = {**body, "following_digests": body["following_digests"][1:]}
    assert not check(dropped, d1["root"])

    # Today's proof reaches today's root so far.
    today = town.credit(points=1)
    body = town.client.get(f"/v1/me/entries/{today}/proof", headers=town.headers("vol_own")).json()
    assert body["following_digests"] == [] and not body["complete"]
    assert check(body, roots(town, str(day1 + timedelta(days=1)), str(day1 + timedelta(days=1)))[str(day1 + timedelta(days=1))]["root"])


def test_proofs_only_for_own_entries(town: Any) -> None:
    other = town.credit(town.vol_other, points=3, unit="community_b")
    r = town.client.get(f"/v1/me/entries/{other}/proof", headers=town.headers("vol_own"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = town.client.get("/v1/me/entries/00000000-0000-0000-0000-000000000001/proof", headers=town.headers("vol_own"))
    assert r.status_code == 404


def test_bad_root_ranges_are_4xx(town: Any) -> None:
    for query, status in [
        ("from=2026-11-05&to=2026-11-01", 422),
        ("from=2020-01-01&to=2026-11-01", 422),
        ("from=2026-13-01", 422),
        ("to=yesterday", 422),
    ]:
        r = town.client.get(f"/v1/ledger/roots?{query}")
        assert r.status_code == status, (query, r.text)
        assert r.json()["code"] in ("invalid_request", "validation_error", "bad_request"), r.json()
    r = town.client.get("/v1/ledger/roots")
    assert r.status_code == 200 and len(r.json()["items"]) == 7
