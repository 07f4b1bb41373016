"""The public leaderboard page over the seeded demo neighbourhood: the expected top rows,
masked names, choosing a unit and a period, English, and the big-screen rotation."""

from __future__ import annotations

import time
from typing import Any

from browser_helpers import screenshot
from eventsourcing.utils import get_topic

from ledger.domain import Volunteer

from ops.demo import STREET, build_neighbourhood
from projections.boards import mask_name


def expected_top(services: Any, volunteers: list[Any], n: int) -> list[tuple[str, int]]:
    """All-time points earned on the street's board: every demo volunteer lives in the street,
    so it is each volunteer's "earned" from the accounts projection, ties in the order the
    volunteers were registered (their place in the event log)."""
    with services.db.read() as tx:
        rows = tx.all("SELECT account, earned FROM balances WHERE kind = 'volunteer' AND earned > 0")
    registered = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]
    order = {n.originator_id.hex: n.id for n in services.ledger.iter_notifications(topics=[registered])}
    names = {v.id.hex: v.name for v in volunteers}
    ranked = sorted(((int(r["earned"]), r["account"].split(":")[1]) for r in rows), key=lambda t: (-t[0], order[t[1]]))
    return [(mask_name(names[vid]), earned) for earned, vid in ranked[:n]]


def test_board_shows_the_demo_role_models(live_server: Any, page: Any, services: Any, clock: Any) -> None:
    demo = build_neighbourhood(services, clock, volunteers=300, days=10)  # the full demo: tests/integration/test_cli.py
    end = services.ledger.max_notification_id()
    deadline = time.monotonic() + 30
    while any(f.position() < end for f in services.followers):  # the live server's threads project
        assert time.monotonic() < deadline
        time.sleep(0.05)
    top = expected_top(services, demo.volunteers, 5)

    page.goto(live_server.url + "/pages/leaderboard?period=all")
    page.wait_for_selector(".podium .place")
    assert page.locator("#unit-name").inner_text() == STREET
    podium = [
        (page.locator(f".podium .p{i} .who").inner_text(), int(page.locator(f".podium .p{i} .val").inner_text().rstrip("分").replace(",", "")))
        for i in (1, 2, 3)
    ]
    rest = [
        (li.locator(".who").evaluate("e => e.firstChild.textContent"), int(li.locator(".val").inner_text().rstrip("分").replace(",", "")))
        for li in page.locator(".ranks li").all()[:2]
    ]
    assert podium + rest == top
    assert "*" in podium[0][0]
    assert page.locator("#periods button.on").inner_text() == "总榜"
    screenshot(page, "leaderboard-zh")

    # choose a community, then this month's minutes
    page.locator("#children button", has_text="柳岸社区").click()
    page.wait_for_function("document.getElementById('unit-name').textContent === '柳岸社区'")
    assert "青禾街道" in page.locator("#crumbs").inner_text()
    page.click("[data-metric=minutes]")
    page.click("[data-period=month]")
    page.wait_for_function("document.querySelector('#period-label').textContent.includes('服务时长')")
    assert page.locator("#metrics button.on").inner_text() == "服务时长"

    page.click("[data-lang-switch]")
    assert page.locator("h1").inner_text() == "Role Models of the Community"
    assert "Hours served" in page.locator("#period-label").inner_text()
    screenshot(page, "leaderboard-en")
    page.click("[data-lang-switch]")

    # big screen: the street, then each community, one after another
    page.goto(live_server.url + "/pages/leaderboard?period=all&screen=1&every=1")
    page.wait_for_selector("body.screen .podium")
    page.wait_for_function("/^大屏轮播 \\d+\\/7$/.test(document.getElementById('cycle-text').textContent)")
    assert page.locator(".controls").is_hidden()
    page.wait_for_function("document.getElementById('unit-name').textContent !== '青禾街道'", timeout=5000)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.wait_for_function("document.getElementById('unit-name').textContent === '青禾街道'", timeout=10000)
    page.wait_for_selector(".podium .place")
    screenshot(page, "leaderboard-big-screen")
