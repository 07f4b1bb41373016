"""Member cards in a real browser: a printed sheet's QR, read from a screenshot, opens the
volunteer page on a phone, which signs in with the PIN and shows the balance; wrong PINs say how
many tries are left, then that the card is locked; a re-issued card's old code is refused; a
shop's one-time sign-in link opens the till."""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from browser_helpers import screenshot
from PIL import Image

from ledger.cards.service import Cards

PIN = "482913"
PHONE = {"viewport": {"width": 390, "height": 780}, "locale": "zh-CN", "device_scale_factor": 2}


def neighbourhood(services: Any) -> tuple[Cards, Any, list[Any], str]:
    ledger = services.ledger
    cards = Cards(ledger, services.settings.signing_key())
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("青禾社区", "community", street.id)
    compound = ledger.create_unit("青禾家园", "compound", community.id)
    building = ledger.create_unit("3号楼", "building", compound.id)
    people = []
    for i, name in enumerate(["林晓燕", "欧阳春晓", "陈建国", "赵丽华", "王秀英", "张志强", "刘海涛", "孙美玲", "周文博", "吴桂芳"]):
        people.append(ledger.register_volunteer(name, building.id, member_no=f"QH-{i + 1:04d}",
                                                also_save=lambda v: [cards.new_card(v.id, PIN)]))
    ledger.credit("seed-card", community.id, people[0].id, 120, minutes=90, memo="社区环境清洁")
    organizer = ledger.issue_token("organizer", "青禾社区 王主任", unit_ids=[community.id]).secret
    return cards, community, people, organizer


def read_qr(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code found"
    return str(found[0].text)


def test_print_a_sheet_scan_a_card_and_sign_in_with_the_pin(live_server: Any, browser: Any) -> None:
    cards, _, people, organizer = neighbourhood(live_server.services)
    ids = ",".join(str(p.id) for p in people)

    office = browser.new_context(viewport={"width": 900, "height": 1200}, locale="zh-CN", device_scale_factor=2,
                                 extra_http_headers={"Authorization": f"Bearer {organizer}"})
    sheet = office.new_page()
    sheet.goto(f"{live_server.url}/v1/cards/sheet?volunteer_ids={ids}&per_page=10&format=html")
    assert sheet.locator(".mcard").count() == 10
    assert "林晓燕" in sheet.locator(".mcard").first.inner_text()
    screenshot(sheet, "card-sheet")
    url = read_qr(sheet.locator(".mcard [data-card-qr]").first.screenshot())
    office.close()
    assert url.startswith(live_server.url + "/pages/volunteer#card=MB1.c.")

    phone_ctx = browser.new_context(**PHONE)
    phone = phone_ctx.new_page()
    phone.goto(url)
    phone.wait_for_selector("#card-pin")
    assert phone.locator("#vol-token").is_hidden()
    screenshot(phone, "card-signin-zh")
    phone.fill("#card-pin", "111222")
    phone.click("#card-go")
    phone.wait_for_selector("#card-error:not(.hidden)")
    assert "还可以再试 4 次" in phone.locator("#card-error").inner_text()
    screenshot(phone, "card-signin-wrong-zh")
    phone.fill("#card-pin", PIN)
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('balance').textContent === '120'")
    assert phone.locator("#vol-name").inner_text() == "林晓燕"
    assert "#card=" not in phone.url  # the code leaves the address bar once used
    screenshot(phone, "card-signed-in")

    # the volunteer changes the PIN on the phone
    phone.click("#pin-details summary")
    phone.fill("#pin-current", PIN)
    phone.fill("#pin-new", "730412")
    phone.fill("#pin-again", "730412")
    phone.click("#pin-save")
    phone.wait_for_selector("#pin-result.ok")

    # the same card again, in English, with large text: the new PIN works
    phone.goto(url)
    phone.wait_for_selector("#card-pin")
    phone.click("[data-lang-switch]")
    phone.click("[data-display-switch]")
    phone.wait_for_function("document.getElementById('card-go').textContent === 'Sign in'")
    assert phone.evaluate("document.documentElement.classList.contains('mb-large')")
    screenshot(phone, "card-signin-en-large")
    phone.click("[data-display-switch]")
    screenshot(phone, "card-signin-en")
    phone.fill("#card-pin", "730412")
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('balance').textContent === '120'")
    phone_ctx.close()


def test_wrong_pins_lock_the_card_and_a_replaced_card_is_refused(live_server: Any, browser: Any) -> None:
    cards, _, people, _ = neighbourhood(live_server.services)
    base = live_server.url
    url = f"{base}/pages/volunteer#card={cards.code_for(cards.get(people[1].id))}"
    phone_ctx = browser.new_context(**PHONE)
    phone = phone_ctx.new_page()
    phone.goto(url)
    for left in (4, 3, 2, 1):
        phone.fill("#card-pin", "111222")
        phone.click("#card-go")
        phone.wait_for_function(f"document.getElementById('card-error').textContent.includes('{left} 次')")
    phone.fill("#card-pin", "111222")
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('card-error').textContent.includes('已锁定')")
    phone.fill("#card-pin", PIN)
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('card-error').textContent.includes('已锁定')")
    screenshot(phone, "card-locked-zh")

    cards.issue(people[1].id, "730412")  # the office re-issues the card
    phone.goto("about:blank")
    phone.goto(url)
    phone.fill("#card-pin", PIN)
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('card-error').textContent.includes('已作废')")
    phone.click("[data-lang-switch]")
    phone.fill("#card-pin", PIN)
    phone.click("#card-go")
    phone.wait_for_function("document.getElementById('card-error').textContent.includes('replaced')")
    screenshot(phone, "card-revoked-en")
    phone_ctx.close()


def test_a_shops_one_time_sign_in_link_opens_the_till(live_server: Any, browser: Any) -> None:
    services = live_server.services
    cards, community, _, _ = neighbourhood(services)
    shop, _ = services.alliance.register_merchant("好邻居便利店", community.id)
    new = cards.create_link("merchant", shop.name, subject_id=shop.id)
    link = f"{live_server.url}/pages/signin#token={new.secret}"

    ctx = browser.new_context(viewport={"width": 820, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(link)
    page.wait_for_selector("#icon.ok")
    assert "#token=" not in page.url
    assert page.locator("#who").inner_text() == "好邻居便利店"
    screenshot(page, "signin-link-zh")
    page.wait_for_url("**/pages/till")
    page.wait_for_selector("#till:not(.hidden)")
    assert page.locator("#shop-name").inner_text() == "好邻居便利店"

    # the same link again, on another device: refused, and the page says why
    other = browser.new_context(viewport={"width": 820, "height": 900}, locale="zh-CN").new_page()
    other.goto(link)
    other.wait_for_selector("#icon.bad")
    assert "已经使用过" in other.locator("#detail").inner_text()
    screenshot(other, "signin-link-used-zh")
    other.click("[data-lang-switch]")
    other.wait_for_function("document.getElementById('detail').textContent.includes('already used')")
    screenshot(other, "signin-link-used-en")
    ctx.close()
