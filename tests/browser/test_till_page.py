"""The till redeems a pay code taken from the volunteer's phone (its QR read back from a
screenshot), shows the result big, and the phone shows the balance after paying."""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from browser_helpers import screenshot
from PIL import Image


def test_till_redeems_a_pay_code_from_the_volunteer_page(live_server: Any, browser: Any, page: Any) -> None:
    services = live_server.services
    ledger, alliance = services.ledger, services.alliance
    street = ledger.create_unit("青禾街道", "street", None)
    volunteer = ledger.register_volunteer("陈春梅", street.id)
    ledger.credit("seed", street.id, volunteer.id, 100, memo="社区环境清洁")
    vol_token = ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id).secret
    shop, issued = alliance.register_merchant("好邻居便利店", street.id, address="青禾路8号")
    alliance.create_offer(shop.id, "爱心米一袋", 20, stock=30)
    alliance.create_offer(shop.id, "洗衣液", 35, limit=1, limit_period="day")
    alliance.create_offer(shop.id, "理发券", 15)

    # the volunteer's phone shows a pay code
    phone_ctx = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN", device_scale_factor=2)
    phone = phone_ctx.new_page()
    phone.goto(live_server.url + "/pages/volunteer")
    phone.fill("#vol-token", vol_token)
    phone.click("#vol-signin")
    phone.wait_for_selector("[data-pay-code] svg")
    phone.wait_for_function("document.querySelector('[data-pay-balance]').textContent === '100'")
    shot = phone.locator("[data-pay-code]").screenshot()
    code = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))[0].text
    assert code.startswith("MB1.p.")
    screenshot(phone, "pay-code")

    # the till: log in once, type the code, pick an offer, confirm
    page.goto(live_server.url + "/pages/till")
    page.fill("#token", issued.secret)
    page.click("#login-form button")
    page.wait_for_selector("#till:not(.hidden)")
    assert page.locator("#shop-name").inner_text() == "好邻居便利店"
    page.fill("#code", code)
    page.click("[data-offer] >> text=爱心米一袋")
    page.click("#confirm")
    page.wait_for_selector("#outcome.ok")
    assert "兑换成功" in page.locator("#outcome-headline").inner_text()
    assert "陈**" in page.locator("#outcome-detail").inner_text()
    page.wait_for_function("document.getElementById('t-net').textContent === '20'")
    screenshot(page, "till-redeemed")

    # the phone sees the payment and the new balance, and shows a fresh code
    phone.wait_for_function("document.querySelector('[data-pay-balance]').textContent === '80'")
    assert "80" in phone.locator("[data-pay-paid]").inner_text()
    screenshot(phone, "pay-after")

    # the same code again is refused, clearly; then the last one is undone
    page.fill("#code", code)
    page.fill("#points", "5")
    page.click("#confirm")
    page.wait_for_selector("#outcome.bad")
    assert "已使用" in page.locator("#outcome-detail").inner_text()
    page.fill("#reason", "顾客退货")
    page.click("#reverse")
    page.wait_for_selector("#outcome.ok")
    page.wait_for_function("document.getElementById('t-net').textContent === '0'")
    phone.wait_for_function("document.querySelector('[data-pay-balance]').textContent === '100'")
    page.click("[data-lang-switch]")
    page.wait_for_function("document.getElementById('confirm').textContent === 'Confirm'")
    screenshot(page, "till-en")

    # the other way round: the phone scans the till's printed code and pays for an offer
    phone.click("#typed summary")
    phone.fill("#scan-code", alliance.merchant_code(shop.id))
    phone.click("#scan-submit")
    phone.wait_for_selector("[data-pay-merchant]:not(.hidden)")
    phone.click(".pay-offer >> text=理发券")
    phone.click("[data-pay-confirm]")
    phone.wait_for_selector("[data-pay-result].ok")
    phone.wait_for_function("document.querySelector('[data-pay-balance]').textContent === '85'")
    phone.wait_for_function("document.getElementById('balance').textContent === '85'")
    screenshot(phone, "pay-merchant-code")
    phone_ctx.close()
