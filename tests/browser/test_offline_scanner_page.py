"""The organizer's card scanner (/pages/scanner) in headless Chromium, on each store: taken offline,
20 member cards scanned (their QR's text typed where the camera's reading goes), "20 waiting to
sync", back online, each volunteer checked in exactly once; the same queue sent again lands once;
a scan stamped after the activity's end + the allowed time is refused and shown as refused.
Screenshots of the offline queue (Chinese and English) go to docs/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from api.cards.views import card_url
from ledger.activities import rules as act
from ledger.activities.domain import AttendanceRecord
from ledger.cards import rules as card_rules
from ledger.cards.service import Cards

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHEAP = card_rules.ScryptCost(n=2**10, r=8, p=1)
NAMES = ["王秀英", "李桂兰", "张建华", "刘玉梅", "陈国强", "杨淑珍", "赵志明", "黄丽华", "周德福", "吴美玲",
         "徐长青", "孙凤英", "马文斌", "朱秀芳", "胡永生", "郭兰英", "何建军", "高玉兰", "林春生", "罗桂香", "梁晓峰"]


def count(page: Any, outcome: str) -> int:
    return int(page.locator(f"#results li[data-outcome='{outcome}']").count())


def test_offline_queue_syncs_once_and_refuses_a_late_scan(live_server: Any, browser: Any) -> None:
    services = live_server.services
    ledger, att, clock = services.ledger, services.attendance, services.clock
    cards = Cards(ledger, services.settings.signing_key(), cost=CHEAP)
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("柳岸社区", "community", street.id)
    now = clock.now()
    activity = att.create_activity("柳岸社区河滨清扫", community.id, now - timedelta(minutes=10), now + timedelta(hours=2), 10)
    organizer = ledger.issue_token("organizer", "柳岸社区组织者", unit_ids=[community.id]).secret
    people = []
    for name in NAMES:
        v = ledger.register_volunteer(name, community.id, also_save=lambda v: [cards.new_card(v.id, "480613")])
        people.append((v.id, card_url(live_server.url, cards.code_for(cards.get(v.id)))))

    context = browser.new_context(viewport={"width": 600, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.clock.set_fixed_time(clock.now())  # the tablet's clock agrees with the server's
    page.goto(f"{live_server.url}/pages/scanner?id={activity.id}")
    page.fill("#token", organizer)
    page.click("#signin-go")
    page.wait_for_selector("#title:has-text('柳岸社区河滨清扫')")

    # offline: 20 cards scanned, all queued on the tablet
    context.set_offline(True)
    page.wait_for_selector("#net[data-online='false']")
    for _, url in people[:20]:
        page.fill("#card-code", url)
        page.click("#card-submit")
    page.wait_for_function("document.getElementById('pending').textContent === '20'")
    assert "条待同步" in page.locator("#queue").inner_text()
    assert count(page, "waiting") == 20
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "offline-scanner-queue-zh.png"), full_page=False)
    page.click("[data-lang-switch]")
    page.wait_for_function("document.getElementById('pending-label').textContent === 'waiting to sync'")
    page.screenshot(path=str(DOCS / "offline-scanner-queue-en.png"), full_page=False)
    page.click("[data-lang-switch]")
    queue = page.evaluate(f"localStorage.getItem('mb.scanqueue.{activity.id}')")
    assert services.ledger.find(AttendanceRecord, AttendanceRecord.create_id(activity.id, people[0][0])) is None

    # back online: the queue is sent by itself; each volunteer checked in exactly once
    context.set_offline(False)
    page.wait_for_function("document.getElementById('pending').textContent === '0'", timeout=20000)
    page.wait_for_function("document.querySelectorAll(\"#results li[data-outcome='checked_in']\").length === 20")
    assert "王秀英" in page.locator("#results").inner_text()

    def events_of(volunteer_id: Any) -> list[Any]:
        return list(ledger.repository.event_store.get(AttendanceRecord.create_id(activity.id, volunteer_id)))

    for volunteer_id, _ in people[:20]:
        [checked_in] = events_of(volunteer_id)
        assert (type(checked_in).__name__, checked_in.offline, checked_in.at) == ("CheckedIn", True, clock.now())

    # the same queue sent again lands once: every scan answered "already synced", nothing new stored
    page.evaluate(f"localStorage.setItem('mb.scanqueue.{activity.id}', {queue!r})")
    page.click("#sync")
    page.wait_for_function("document.querySelectorAll(\"#results li[data-outcome='duplicate']\").length === 20")
    assert page.locator("#pending").inner_text() == "0"
    assert all(len(events_of(v)) == 1 for v, _ in people[:20])
    page.screenshot(path=str(DOCS / "offline-scanner-synced-zh.png"), full_page=False)

    # a scan stamped after the end + the allowed time: refused, and shown as refused
    clock.set(activity.ends_at + timedelta(hours=2))
    page.clock.set_fixed_time(activity.ends_at + act.LATE_SCAN + timedelta(minutes=5))
    context.set_offline(True)
    page.fill("#card-code", people[20][1])
    page.click("#card-submit")
    page.wait_for_function("document.getElementById('pending').textContent === '1'")
    context.set_offline(False)
    page.wait_for_selector("#results li.bad[data-outcome='refused'][data-code='scan_too_late']", timeout=20000)
    assert "未通过" in page.locator("#results li.bad").first.inner_text()
    assert services.ledger.find(AttendanceRecord, AttendanceRecord.create_id(activity.id, people[20][0])) is None
    context.close()
