"""Member cards: PIN rules and hashing, locking after five wrong PINs, card codes, sign-in link
expiry — pure rules and the aggregates, table-driven."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from ledger import codes
from ledger.cards import rules
from ledger.cards.domain import MemberCard, SigninLink
from ledger.cards.errors import CardLocked, CardRevoked, LinkExpired, LinkUsed, PinInvalid, PinWrong

KEY = b"k" * 32
SALT = b"s" * 16
CHEAP = rules.ScryptCost(n=2**10, r=8, p=1)  # the rules, not the cost, are under test here
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("pin", "ok"),
    [
        ("482913", True),
        ("090807", True),
        ("100200", True),
        ("48291", False),  # five digits
        ("4829134", False),  # seven
        ("", False),
        ("48a913", False),
        ("48 913", False),
        ("４８２９１３", False),  # full-width digits
        ("٤٨٢٩١٣", False),  # Arabic-Indic digits: isdigit() says yes, the keypad says no
        ("000000", False),
        ("777777", False),
        ("123456", False),
        ("234567", False),
        ("987654", False),
        ("654321", False),
        ("520520", False),
        (482913, False),
        (None, False),
    ],
)
def test_pin_rules(pin: object, ok: bool) -> None:
    if ok:
        assert rules.check_pin(pin) == pin
    else:
        with pytest.raises(PinInvalid) as e:
            rules.check_pin(pin)
        assert e.value.code == "pin_invalid"


def test_pin_hash_is_salted_slow_and_self_describing() -> None:
    stored = rules.hash_pin("482913", SALT, CHEAP)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", CHEAP.n, CHEAP.r, CHEAP.p)
    assert "482913" not in stored
    assert rules.hash_pin("482913", b"t" * 16, CHEAP) != stored  # another salt, another hash
    assert rules.DEFAULT_COST.n >= 2**14  # the production cost is not the test's
    with pytest.raises(ValueError):
        rules.hash_pin("482913", b"short", CHEAP)


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("482913", True),
        ("482914", False),
        ("48291", False),
        ("4829130", False),
        ("", False),
        (None, False),
        (482913, False),
        ("４８２９１３", False),
    ],
)
def test_verify_pin(typed: object, ok: bool) -> None:
    assert rules.verify_pin(typed, rules.hash_pin("482913", SALT, CHEAP)) is ok


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "md5$1$1$1$abc$def",
        "scrypt$x$8$1$abc$def",
        "scrypt$1024$8$1$!!$def",
        "scrypt$3$8$1$abc$def",  # N not a power of two
        "scrypt$1099511627776$8$1$abc$def",  # absurd cost: refused, not computed
    ],
)
def test_malformed_stored_hashes_never_match(stored: str) -> None:
    assert rules.verify_pin("482913", stored) is False


@pytest.mark.parametrize(
    ("failed", "after", "locked", "left"),
    [(0, 1, False, 4), (1, 2, False, 3), (3, 4, False, 1), (4, 5, True, 0), (5, 6, True, 0)],
)
def test_wrong_pins_lock_at_five(failed: int, after: int, locked: bool, left: int) -> None:
    assert rules.after_wrong_pin(failed) == (after, locked)
    assert rules.tries_left(after) == left


def _card() -> MemberCard:
    return MemberCard(volunteer_id=uuid4(), pin_hash=rules.hash_pin("482913", SALT, CHEAP), at=NOW)


def test_card_locks_after_five_wrong_pins_and_unlocks() -> None:
    card = _card()
    refusals = []
    for _ in range(5):
        card.wrong_pin(NOW)
        refusals.append(card.refusal())
    assert [type(r) for r in refusals] == [PinWrong] * 4 + [CardLocked]
    assert [r.details["tries_left"] for r in refusals] == [4, 3, 2, 1, 0]
    with pytest.raises(CardLocked):
        card.check_code(card.serial)
    assert card.unlock("organizer", NOW) is True
    card.check_code(card.serial)
    assert card.tries_left == 5
    assert card.unlock("organizer", NOW) is False  # nothing to unlock, nothing recorded


def test_a_sign_in_resets_the_wrong_tries() -> None:
    card = _card()
    for _ in range(4):
        card.wrong_pin(NOW)
    card.signed_in(uuid4(), NOW)
    assert card.tries_left == 5


def test_reissue_moves_the_serial_and_hands_back_the_tokens_to_revoke() -> None:
    card = _card()
    tokens = [uuid4(), uuid4()]
    for t in tokens:
        card.signed_in(t, NOW)
    for _ in range(5):
        card.wrong_pin(NOW)
    assert card.reissue(rules.hash_pin("730412", SALT, CHEAP), NOW) == tokens
    assert (card.serial, card.locked, card.token_ids) == (2, False, [])
    with pytest.raises(CardRevoked):
        card.check_code(1)
    card.check_code(2)
    # replayed from its events, the card is the same
    copy = None
    for e in card.collect_events():
        copy = e.mutate(copy)
    assert copy is not None and (copy.serial, copy.pin_hash, copy.token_ids) == (2, card.pin_hash, [])


def _code(fields: dict[str, object], kind: str = codes.CARD, key: bytes = KEY) -> str:
    return codes.sign(key, kind, fields)


VOL = uuid4()


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: _code({"v": VOL.hex, "s": 2}), None),
        (lambda: _code({"v": VOL.hex, "s": 1}), CardRevoked),  # old serial
        (lambda: _code({"v": VOL.hex, "s": 3}), CardRevoked),  # a serial never issued
        (lambda: _code({"v": VOL.hex, "s": 2}, key=b"another key"), codes.CodeInvalid),  # forged
        (lambda: _code({"v": VOL.hex, "s": 2})[:-3] + "AAA", codes.CodeInvalid),  # signature changed
        (lambda: _code({"v": VOL.hex, "s": 2}, kind=codes.PAY), codes.CodeInvalid),  # wrong kind
        (lambda: _code({"v": VOL.hex, "s": 2}).replace(".c.", ".p.", 1), codes.CodeInvalid),  # kind swapped
        (lambda: _code({"v": "not-hex", "s": 2}), codes.CodeInvalid),
        (lambda: _code({"s": 2}), codes.CodeInvalid),
        (lambda: _code({"v": VOL.hex}), codes.CodeInvalid),
        (lambda: _code({"v": VOL.hex, "s": "2"}), codes.CodeInvalid),
        (lambda: _code({"v": VOL.hex, "s": True}), codes.CodeInvalid),
        (lambda: _code({"v": VOL.hex, "s": 0}), codes.CodeInvalid),
        (lambda: "https://example.org/pages/volunteer", codes.CodeInvalid),
        (lambda: None, codes.CodeInvalid),
    ],
)
def test_reading_a_card_code(make, error) -> None:  # type: ignore[no-untyped-def]
    def check() -> None:
        _, fields = codes.read(KEY, make(), kind=codes.CARD)
        volunteer_id, serial = rules.read_card_fields(fields)
        assert volunteer_id == VOL
        rules.check_usable(serial, 2, False)

    if error is None:
        check()
    else:
        with pytest.raises(error):
            check()


@pytest.mark.parametrize(
    ("after", "used", "error"),
    [
        (timedelta(0), False, None),
        (timedelta(days=7) - timedelta(seconds=1), False, None),
        (timedelta(days=7), False, LinkExpired),
        (timedelta(days=30), False, LinkExpired),
        (timedelta(minutes=1), True, LinkUsed),
        (timedelta(days=8), True, LinkUsed),
    ],
)
def test_sign_in_link_is_used_once_within_seven_days(after: timedelta, used: bool, error: type | None) -> None:
    expires = rules.link_expires_at(NOW)
    if error is None:
        rules.check_link(NOW + after, expires, used)
    else:
        with pytest.raises(error):
            rules.check_link(NOW + after, expires, used)


def test_a_link_is_used_once() -> None:
    link = SigninLink(secret_hash="h", role="merchant", name="好邻居便利店", unit_ids=[], subject_id=uuid4(),
                      created_by="admin", at=NOW, expires_at=rules.link_expires_at(NOW))
    link.use(uuid4(), NOW)
    with pytest.raises(LinkUsed):
        link.use(uuid4(), NOW)


@pytest.mark.parametrize("cls", [MemberCard.Issued, MemberCard.Reissued, MemberCard.PinFailed, SigninLink.Used])  # type: ignore[attr-defined]
def test_topics_are_under_ledger_cards(cls: type) -> None:
    topic = get_topic(cls)
    assert topic.startswith("ledger.cards:")
    assert resolve_topic(topic) is cls
