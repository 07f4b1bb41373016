"""Paying at the till with a member card and PIN, in headless Chromium, on each store: the till
reads the card's QR (typed where the camera's reading goes), the volunteer types the PIN on the
till; a wrong PIN is refused with the tries left, the right one pays; the PIN is in no log line.
Screenshots (Chinese and English) go to docs/."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from api.cards.views import card_url
from ledger.accounts import volunteer_account
from ledger.cards import rules as card_rules
from ledger.cards.service import Cards

DOCS = Path(__file__).resolve().parents[2] / "docs"
PIN, WRONG = "480613", "902817"


def test_till_takes_a_card_and_its_pin(live_server: Any, page: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    services = live_server.services
    ledger, alliance = services.ledger, services.alliance
    alliance.cards = Cards(ledger, services.settings.signing_key(), cost=card_rules.ScryptCost(n=2**10, r=8, p=1))
    street = ledger.create_unit("青禾街道", "street", None)
    volunteer = ledger.register_volunteer("何秀珍", street.id, also_save=lambda v: [alliance.cards.new_card(v.id, PIN)])
    ledger.credit("seed", street.id, volunteer.id, 100, memo="社区环境清洁")
    shop, issued = alliance.register_merchant("好邻居便利店", street.id, address="青禾路8号")
    alliance.create_offer(shop.id, "爱心米一袋", 20, stock=30)
    url = card_url(live_server.url, alliance.cards.code_for(alliance.cards.get(volunteer.id)))

    page.set_viewport_size({"width": 900, "height": 1000})
    page.goto(live_server.url + "/pages/till")
    page.fill("#token", issued.secret)
    page.click("#login-form button")
    page.wait_for_selector("#till:not(.hidden)")
    page.fill("#code", url)
    page.wait_for_selector("#card-pin:not(.hidden)")
    page.click("[data-offer] >> text=爱心米一袋")
    assert page.locator("#confirm").is_disabled()  # no PIN yet
    page.fill("#pin", WRONG)
    page.click("#confirm")
    page.wait_for_selector("#outcome.bad")
    assert "还可以再试 4 次" in page.locator("#outcome-detail").inner_text()
    assert page.locator("#pin").input_value() == ""  # the PIN leaves the field at once
    page.fill("#pin", PIN)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "till-card-pin-zh.png"), full_page=False)
    page.click("#confirm")
    page.wait_for_selector("#outcome.ok")
    assert "会员卡支付成功" in page.locator("#outcome-headline").inner_text()
    page.wait_for_function("document.getElementById('t-net').textContent === '20'")
    page.screenshot(path=str(DOCS / "till-card-payment-zh.png"), full_page=False)
    page.click("[data-lang-switch]")
    page.fill("#code", url)
    page.wait_for_function("document.getElementById('outcome-headline').textContent.length > 0")
    page.screenshot(path=str(DOCS / "till-card-payment-en.png"), full_page=False)
    assert ledger.guarded_balance(volunteer_account(volunteer.id)) == 80
    # neither PIN in any log line, nor in any stored event
    assert PIN not in caplog.text and WRONG not in caplog.text
    assert not any(PIN.encode() in n.state or WRONG.encode() in n.state for n in ledger.iter_notifications())
