"""The organizer's activity screen and the volunteer's scanner, in headless Chromium: read the
QR payload from the screen, scan it as a logged-in volunteer, see the count change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from browser_helpers import screenshot


def test_scan_from_the_screen_changes_its_count(live_server: Any, browser: Any, page: Any) -> None:
    services = live_server.services
    ledger, att, clock = services.ledger, services.attendance, services.clock
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("柳岸社区", "community", street.id)
    now = clock.now()
    activity = att.create_activity(
        "柳岸社区环境清洁", community.id, now - timedelta(minutes=10), now + timedelta(hours=3), 10,
        capacity=80, max_points=30,
    )
    organizer = ledger.issue_token("organizer", "柳岸社区组织者", unit_ids=[community.id]).secret
    volunteer = ledger.register_volunteer("李春梅", community.id)
    vol_token = ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id).secret

    # The screen: sign in with the organizer token through the form.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/pages/activity-screen?id={activity.id}")
    page.fill("#token", organizer)
    page.click("#signin-go")
    page.wait_for_function("document.querySelector('#qr').dataset.code.startsWith('MB1.a.')")
    assert page.locator("#title").inner_text() == "柳岸社区环境清洁"
    assert page.locator("#qr svg").count() == 1
    page.wait_for_function("document.querySelector('#stage').dataset.checkedIn === '0'")
    code = page.locator("#qr").get_attribute("data-code")

    # The volunteer's phone: sign in, type the code (the camera path needs a real camera).
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    vpage = phone.new_page()
    vpage.goto(f"{live_server.url}/pages/volunteer")
    vpage.fill("#vol-token", vol_token)
    vpage.click("#vol-signin")
    vpage.wait_for_selector("#vol-name:has-text('李春梅')")
    vpage.click("#typed summary")
    vpage.fill("#scan-code", code)
    vpage.click("#scan-submit")
    vpage.wait_for_selector("#scan-result[data-action='check_in']")
    assert "签到成功" in vpage.locator("#scan-result").inner_text()

    # The screen's count follows (its projection runs in the live server).
    page.wait_for_function("document.querySelector('#stage').dataset.checkedIn === '1'", timeout=15000)
    assert page.locator("#n-present").inner_text() == "1"
    screenshot(page, "activity-screen")

    # Two hours later the volunteer scans again to check out: 120 min × 10/h = 20 points.
    # (The screen renews its code when the server says the window rotates; with the test's
    # frozen clock that is up to 30 s away, so this code comes from the JSON endpoint.)
    clock.advance(hours=2)
    fresh = httpx.get(
        f"{live_server.url}/v1/activities/{activity.id}/qr?format=json", headers={"Authorization": f"Bearer {organizer}"}
    ).json()["code"]
    assert fresh != code
    vpage.fill("#scan-code", fresh)
    vpage.click("#scan-submit")
    vpage.wait_for_selector("#scan-result[data-action='check_out']")
    assert "20" in vpage.locator("#scan-result").inner_text()
    vpage.wait_for_selector("#balance:has-text('20')", timeout=15000)
    page.wait_for_function("document.querySelector('#stage').dataset.checkedOut === '1'", timeout=15000)
    screenshot(vpage, "volunteer-scanned")

    # A stale code is refused in plain words; English is a click away.
    vpage.fill("#scan-code", code)
    vpage.click("#scan-submit")
    vpage.wait_for_selector("#scan-result[data-action^='refused']")
    assert "过期" in vpage.locator("#scan-result").inner_text()
    vpage.click("[data-lang-switch]")
    assert vpage.locator("#scan h2").inner_text() == "Scan to check in / out"
    page.click("[data-lang-switch]")
    assert page.locator("#n-in + .label").inner_text() == "Checked in"
    screenshot(page, "activity-screen-en")
    phone.close()
