"""Paying at a till with a member card and its PIN, on each store: wrong PINs lock the card, the
daily cap of the volunteer's unit holds under concurrent payments, one payment per request key,
and the PIN is in no stored event."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from invariants import assert_invariants
from ledger.accounts import volunteer_account
from ledger.cards import errors as card_errors
from ledger.cards import rules as card_rules
from ledger.cards.service import Cards
from ledger.errors import IdempotencyConflict
from merchants import errors as merchant_errors
from merchants.rules import DEFAULT_CARD_DAILY_CAP

CHEAP = card_rules.ScryptCost(n=2**10, r=8, p=1)  # the lock and the cap are under test, not the hash's cost
PIN = "480613"


def shop_and_card(services: Any, points: int = 500) -> tuple[Any, Any, str, Any]:
    ledger, alliance = services.ledger, services.alliance
    cards = Cards(ledger, services.settings.signing_key(), cost=CHEAP)
    alliance.cards = cards
    street = ledger.create_unit("青禾街道", "street", None)
    building = ledger.create_unit("柳岸社区", "community", street.id)
    vol = ledger.register_volunteer("赵桂芳", building.id, also_save=lambda v: [cards.new_card(v.id, PIN)])
    ledger.credit(f"seed:{uuid.uuid4()}", street.id, vol.id, points, memo="公益日")
    shop = alliance.register_merchant("好邻居便利店", street.id)[0]
    return shop, vol, cards.code_for(cards.get(vol.id)), street


def test_five_wrong_pins_lock_the_card_for_payments_too(services: Any) -> None:
    alliance = services.alliance
    shop, vol, code, _ = shop_and_card(services)
    for tries_left in (4, 3, 2, 1):
        with pytest.raises(card_errors.PinWrong) as e:
            alliance.pay_by_card(shop.id, code, "111112", uuid.uuid4().hex, points=5)
        assert e.value.details["tries_left"] == tries_left
    with pytest.raises(card_errors.CardLocked):
        alliance.pay_by_card(shop.id, code, "111112", uuid.uuid4().hex, points=5)
    with pytest.raises(card_errors.CardLocked):  # the sixth, with the right PIN
        alliance.pay_by_card(shop.id, code, PIN, uuid.uuid4().hex, points=5)
    with pytest.raises(card_errors.CardLocked):  # sign-in shares the lock
        alliance.cards.sign_in(code, PIN)
    alliance.cards.unlock(vol.id, by="organizer")
    paid = alliance.pay_by_card(shop.id, code, PIN, uuid.uuid4().hex, points=5)
    assert paid.redemption.via == "card" and paid.redemption.points == 5
    assert services.ledger.guarded_balance(volunteer_account(vol.id)) == 495


def test_one_payment_per_request_key(services: Any) -> None:
    alliance = services.alliance
    shop, vol, code, street = shop_and_card(services)
    key = uuid.uuid4().hex
    first = alliance.pay_by_card(shop.id, code, PIN, key, points=30, actor="till")
    again = alliance.pay_by_card(shop.id, code, PIN, key, points=30, actor="till")
    assert (again.replayed, again.redemption.id) == (True, first.redemption.id)
    with pytest.raises(IdempotencyConflict):
        alliance.pay_by_card(shop.id, code, PIN, key, points=31, actor="till")
    assert services.ledger.guarded_balance(volunteer_account(vol.id)) == 470
    # a re-issued card's old code is refused
    alliance.cards.issue(vol.id, "730412")
    with pytest.raises(card_errors.CardRevoked):
        alliance.pay_by_card(shop.id, code, PIN, uuid.uuid4().hex, points=1)


def test_the_daily_cap_is_the_nearest_units(services: Any, clock: Any) -> None:
    alliance = services.alliance
    shop, vol, code, street = shop_and_card(services, points=1000)
    home = services.ledger.get_volunteer(vol.id).unit_id
    assert alliance.card_cap(home) == DEFAULT_CARD_DAILY_CAP
    alliance.set_card_cap(street.id, 50, by="admin")
    assert alliance.card_cap(home) == 50  # from the street above
    alliance.pay_by_card(shop.id, code, PIN, "a", points=40)
    with pytest.raises(merchant_errors.CardLimitReached) as e:
        alliance.pay_by_card(shop.id, code, PIN, "b", points=11)
    assert e.value.details["left"] == 10
    alliance.pay_by_card(shop.id, code, PIN, "c", points=10)
    alliance.set_card_cap(home, 80, by="admin")  # the community's own cap wins over the street's
    alliance.pay_by_card(shop.id, code, PIN, "d", points=30)
    clock.advance(hours=24)  # a new day
    alliance.pay_by_card(shop.id, code, PIN, "e", points=80)
    assert services.ledger.guarded_balance(volunteer_account(vol.id)) == 1000 - 160


def test_the_cap_holds_under_20_concurrent_card_payments(services: Any) -> None:
    alliance = services.alliance
    shop, vol, code, street = shop_and_card(services, points=1000)
    alliance.set_card_cap(street.id, 100, by="admin")

    def pay(i: int) -> str:
        try:
            alliance.pay_by_card(shop.id, code, PIN, f"till-{i}", points=10)
        except merchant_errors.CardLimitReached:
            return "capped"
        return "paid"

    with ThreadPoolExecutor(20) as pool:
        outcomes = Counter(pool.map(pay, range(20)))
    assert outcomes == Counter(paid=10, capped=10)
    assert services.ledger.guarded_balance(volunteer_account(vol.id)) == 900
    assert_invariants(services)


def test_the_pin_is_in_no_stored_event(services: Any) -> None:
    alliance = services.alliance
    shop, vol, code, _ = shop_and_card(services)
    alliance.pay_by_card(shop.id, code, PIN, "x", points=5)
    with pytest.raises(card_errors.PinWrong):
        alliance.pay_by_card(shop.id, code, "902817", "y", points=5)
    stored = [n.state for n in services.ledger.iter_notifications()]
    assert stored and not any(PIN.encode() in s or b"902817" in s for s in stored)
