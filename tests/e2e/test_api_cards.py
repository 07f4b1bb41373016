"""Member cards and sign-in over HTTP, on each store: register with a PIN, sign in with card +
PIN, five wrong PINs lock, unlock, re-issue (old code and old tokens refused), one-time sign-in
links (single use, 7 days), scope, bad input."""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

import pytest
import zxingcpp
from e2e_contract import bearer
from PIL import Image

PIN, NEW_PIN = "482913", "730412"


def register(town: Any, pin: str | None = PIN, *, unit: str = "building_a", role: str = "org_in", **extra: Any) -> Any:
    body = {"name": "林晓燕", "unit_id": str(town.units[unit]), **extra}
    if pin is not None:
        body["pin"] = pin
    return town.client.post("/v1/volunteers", json=body, headers=town.headers(role))


def card_of(town: Any, volunteer_id: str, role: str = "org_in") -> dict[str, Any]:
    r = town.client.get(f"/v1/volunteers/{volunteer_id}/card?format=json", headers=town.headers(role))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def sign_in(town: Any, code: str, pin: str) -> Any:
    return town.client.post("/v1/card-sessions", json={"card_code": code, "pin": pin})


def test_register_with_pin_then_sign_in_with_card_and_pin(town: Any) -> None:
    r = register(town)
    assert r.status_code == 201, r.text
    vid = r.json()["volunteer"]["id"]
    card = card_of(town, vid)
    assert card["serial"] == 1 and card["locked"] is False and card["tries_left"] == 5
    assert card["code"].startswith("MB1.c.")
    assert card["url"].endswith("/pages/volunteer#card=" + card["code"])
    # the card's QR decodes to its URL
    png = town.client.get(f"/v1/volunteers/{vid}/card?format=png", headers=town.headers("org_in"))
    assert png.headers["content-type"] == "image/png"
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))[0].text == card["url"]
    svg = town.client.get(f"/v1/volunteers/{vid}/card?format=svg", headers=town.headers("org_in"))
    assert svg.headers["content-type"].startswith("image/svg+xml")

    for code in (card["code"], card["url"]):  # the code itself, or the URL a camera read
        s = sign_in(town, code, PIN)
        assert s.status_code == 201, s.text
        token = s.json()["token"]["secret"]
        assert s.json()["volunteer"]["id"] == vid and s.json()["token"]["role"] == "volunteer"
        me = town.client.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["id"] == vid
    # the PIN's hash never leaves the server, not even in the admin's event feed
    events = town.client.get("/v1/events?limit=200", headers=town.headers("admin")).json()["items"]
    assert not any(PIN in str(e) or "scrypt$" in str(e) for e in events)


def test_registration_refuses_a_bad_pin_and_writes_nothing(town: Any) -> None:
    before = town.head()
    for pin, code in (("12345", "validation_error"), ("1234567", "validation_error"), ("12a456", "validation_error"),
                      (123456, "validation_error"), ("123456", "pin_invalid"), ("000000", "pin_invalid")):
        r = register(town, pin)  # type: ignore[arg-type]
        assert r.status_code == 422 and r.json()["code"] == code, (pin, r.text)
    assert town.head() == before


def test_five_wrong_pins_lock_the_card_until_an_organizer_unlocks_it(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    code = card_of(town, vid)["code"]
    for left in (4, 3, 2, 1):
        r = sign_in(town, code, "111222")
        assert r.status_code == 401 and r.json()["code"] == "pin_wrong", r.text
        assert r.json()["tries_left"] == left
    r = sign_in(town, code, "111223")
    assert r.status_code == 423 and r.json()["code"] == "card_locked"
    r = sign_in(town, code, PIN)  # the right PIN, too late
    assert r.status_code == 423 and r.json()["code"] == "card_locked"
    assert card_of(town, vid)["locked"] is True
    # another community's organizer cannot unlock it; its own can
    assert town.client.post(f"/v1/volunteers/{vid}/card/unlock", headers=town.headers("org_out")).status_code == 403
    assert town.client.post(f"/v1/volunteers/{vid}/card/unlock", headers=town.headers("vol_own")).status_code == 403
    r = town.client.post(f"/v1/volunteers/{vid}/card/unlock", headers=town.headers("org_in"))
    assert r.status_code == 200 and r.json()["locked"] is False and r.json()["tries_left"] == 5
    assert sign_in(town, code, PIN).status_code == 201


def test_a_right_pin_resets_the_count(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    code = card_of(town, vid)["code"]
    for _ in range(4):
        assert sign_in(town, code, "111222").json()["code"] == "pin_wrong"
    assert sign_in(town, code, PIN).status_code == 201
    assert sign_in(town, code, "111222").json()["tries_left"] == 4


def test_reissue_refuses_the_old_code_and_revokes_its_tokens(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    old = card_of(town, vid)["code"]
    tokens = [sign_in(town, old, PIN).json()["token"]["secret"] for _ in range(2)]
    assert all(town.client.get("/v1/me", headers=bearer(t)).status_code == 200 for t in tokens)

    r = town.client.post(f"/v1/volunteers/{vid}/card", json={"pin": NEW_PIN}, headers=town.headers("org_in"))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["serial"] == 2 and new["code"] != old

    refused = sign_in(town, old, PIN)
    assert refused.status_code == 401 and refused.json()["code"] == "card_revoked"
    assert sign_in(town, old, NEW_PIN).json()["code"] == "card_revoked"
    for t in tokens:
        r = town.client.get("/v1/me", headers=bearer(t))
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert sign_in(town, new["code"], PIN).json()["code"] == "pin_wrong"  # the old PIN is gone too
    assert sign_in(town, new["code"], NEW_PIN).status_code == 201


def test_a_card_for_someone_registered_without_one(town: Any) -> None:
    vid = register(town, None).json()["volunteer"]["id"]
    r = town.client.get(f"/v1/volunteers/{vid}/card", headers=town.headers("org_in"))
    assert r.status_code == 404 and r.json()["code"] == "card_not_issued"
    r = town.client.post(f"/v1/volunteers/{vid}/card", json={"pin": PIN}, headers=town.headers("org_in"))
    assert r.status_code == 201 and r.json()["serial"] == 1
    assert sign_in(town, r.json()["code"], PIN).status_code == 201


def test_the_volunteer_changes_the_pin(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    code = card_of(town, vid)["code"]
    token = sign_in(town, code, PIN).json()["token"]["secret"]
    r = town.client.put("/v1/me/pin", json={"current_pin": "999888", "new_pin": NEW_PIN}, headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "pin_wrong" and r.json()["tries_left"] == 4
    r = town.client.put("/v1/me/pin", json={"current_pin": PIN, "new_pin": "111111"}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["code"] == "pin_invalid"
    r = town.client.put("/v1/me/pin", json={"current_pin": PIN, "new_pin": NEW_PIN}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["serial"] == 1 and r.json()["tries_left"] == 5
    assert town.client.get("/v1/me", headers=bearer(token)).status_code == 200  # still signed in
    assert sign_in(town, code, PIN).json()["code"] == "pin_wrong"
    assert sign_in(town, code, NEW_PIN).status_code == 201
    # an organizer's token has no PIN to change
    assert town.client.put("/v1/me/pin", json={"current_pin": PIN, "new_pin": NEW_PIN}, headers=town.headers("org_in")).status_code == 403


def test_organizers_reach_only_their_own_volunteers_cards(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    other = register(town, unit="community_b", role="admin").json()["volunteer"]["id"]
    assert town.client.get(f"/v1/volunteers/{vid}/card", headers=town.headers("org_out")).status_code == 403
    assert town.client.post(f"/v1/volunteers/{vid}/card", json={"pin": NEW_PIN}, headers=town.headers("org_out")).status_code == 403
    assert town.client.get(f"/v1/volunteers/{other}/card", headers=town.headers("org_in")).status_code == 403
    assert town.client.get(f"/v1/cards/sheet?volunteer_ids={vid},{other}&format=html", headers=town.headers("org_in")).status_code == 403
    assert town.client.get(f"/v1/volunteers/{uuid4()}/card", headers=town.headers("org_in")).status_code == 404
    # a volunteer sees their own card, and no one else's (not even that it exists)
    own = sign_in(town, card_of(town, vid)["code"], PIN).json()["token"]["secret"]
    assert town.client.get(f"/v1/volunteers/{vid}/card", headers=bearer(own)).status_code == 200
    assert town.client.get(f"/v1/volunteers/{other}/card", headers=bearer(own)).status_code == 404
    assert town.client.post(f"/v1/volunteers/{vid}/card", json={"pin": NEW_PIN}, headers=bearer(own)).status_code == 403
    assert register(town, unit="community_b").status_code == 403  # registering outside its units


@pytest.mark.parametrize(
    "body",
    [
        {"card_code": "MB1.c.forged.signature", "pin": PIN},
        {"card_code": "hello", "pin": PIN},
        {"card_code": "", "pin": PIN},
        {"card_code": "x" * 601, "pin": PIN},
        {"card_code": "MB1.c.a.b", "pin": 482913},
        {"card_code": "MB1.c.a.b"},
        {"pin": PIN},
        {"card_code": None, "pin": PIN},
        {"card_code": ["MB1"], "pin": PIN},
        {"card_code": "MB1.c.a.b", "pin": PIN, "extra": 1},
    ],
)
def test_malformed_sign_ins_are_4xx(town: Any, body: dict[str, Any]) -> None:
    r = town.client.post("/v1/card-sessions", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] in {"code_invalid", "validation_error"}


def test_codes_of_other_kinds_and_other_servers_are_refused(town: Any) -> None:
    from ledger import codes

    vid = register(town).json()["volunteer"]["id"]
    pay = town.services.alliance.merchant_code(town.merchant)
    forged = codes.sign(b"another server", codes.CARD, {"v": vid.replace("-", ""), "s": 1})
    nobody = codes.sign(town.services.settings.signing_key(), codes.CARD, {"v": uuid4().hex, "s": 1})
    for code in (pay, forged, nobody):
        r = sign_in(town, code, PIN)
        assert r.status_code == 422 and r.json()["code"] == "code_invalid", r.text


def test_bad_requests_to_card_routes_are_4xx(town: Any) -> None:
    vid = register(town).json()["volunteer"]["id"]
    org = town.headers("org_in")
    for method, path, body in [
        ("POST", f"/v1/volunteers/{vid}/card", {"pin": "12"}),
        ("POST", f"/v1/volunteers/{vid}/card", {}),
        ("POST", "/v1/volunteers/not-a-uuid/card", {"pin": PIN}),
        ("GET", f"/v1/volunteers/{vid}/card?format=gif", None),
        ("GET", "/v1/cards/sheet", None),
        ("GET", "/v1/cards/sheet?volunteer_ids=", None),
        ("GET", "/v1/cards/sheet?volunteer_ids=nope", None),
        ("GET", f"/v1/cards/sheet?volunteer_ids={vid}&per_page=9", None),
        ("GET", f"/v1/cards/sheet?volunteer_ids={vid}&format=docx", None),
        ("GET", "/v1/cards/sheet?volunteer_ids=" + ",".join(str(uuid4()) for _ in range(201)), None),
    ]:
        r = town.client.request(method, path, json=body, headers=org)
        assert r.status_code == 422, (method, path, r.text)
    r = town.client.post(f"/v1/volunteers/{vid}/card", content=b"pin=123456", headers={**org, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = town.client.post(f"/v1/volunteers/{vid}/card", content=b"{", headers={**org, "Content-Type": "application/json"})
    assert r.status_code == 400
    missing = town.client.get(f"/v1/cards/sheet?volunteer_ids={uuid4()}&format=html", headers=org)
    assert missing.status_code == 404
    no_card = register(town, None).json()["volunteer"]["id"]
    r = town.client.get(f"/v1/cards/sheet?volunteer_ids={no_card}&format=html", headers=org)
    assert r.status_code == 404 and r.json()["code"] == "card_not_issued"


# ---------------------------------------------------------------- sign-in links


def link(town: Any, **body: Any) -> Any:
    return town.client.post("/v1/signin-links", json=body, headers=town.headers("admin"))


def secret_of(url: str) -> str:
    assert "?" not in url, "the secret never goes in a query string"
    page, _, secret = url.partition("#token=")
    assert page.endswith("/pages/signin") and secret
    return secret


def test_a_sign_in_link_works_once(town: Any) -> None:
    r = link(town, role="merchant", merchant_id=str(town.merchant))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "Shop A" and body["subject_id"] == str(town.merchant)
    assert body["qr_svg"].lstrip().startswith("<?xml") and "<svg" in body["qr_svg"]
    secret = secret_of(body["url"])
    x = town.client.post("/v1/signin-links/exchange", json={"token": secret})
    assert x.status_code == 201, x.text
    assert x.json()["next"] == "/pages/till" and x.json()["token"]["role"] == "merchant"
    token = x.json()["token"]["secret"]
    assert secret not in token
    assert town.client.get("/v1/merchants/me", headers=bearer(token)).json()["id"] == str(town.merchant)
    again = town.client.post("/v1/signin-links/exchange", json={"token": secret})
    assert again.status_code == 409 and again.json()["code"] == "link_used"


def test_an_organizer_link_expires_after_seven_days(town: Any, clock: Any) -> None:
    fresh = secret_of(link(town, role="organizer", name="王主任", unit_ids=[str(town.units["community_a"])]).json()["url"])
    stale = secret_of(link(town, role="organizer", name="赵干事", unit_ids=[str(town.units["community_a"])]).json()["url"])
    clock.advance(days=7, seconds=-1)
    x = town.client.post("/v1/signin-links/exchange", json={"token": fresh})
    assert x.status_code == 201 and x.json()["token"]["role"] == "organizer"
    assert x.json()["token"]["unit_ids"] == [str(town.units["community_a"])]
    org = bearer(x.json()["token"]["secret"])
    assert town.client.get(f"/v1/units/{town.units['community_a']}", headers=org).status_code == 200
    assert town.client.get(f"/v1/units/{town.units['community_b']}", headers=org).status_code == 403
    clock.advance(seconds=1)
    r = town.client.post("/v1/signin-links/exchange", json={"token": stale})
    assert r.status_code == 410 and r.json()["code"] == "link_expired"


def test_sign_in_links_refuse_bad_input_and_non_admins(town: Any) -> None:
    unit = str(town.units["community_a"])
    for body in (
        {"role": "admin", "unit_ids": [unit]},
        {"role": "volunteer"},
        {"role": "merchant"},
        {"role": "merchant", "merchant_id": str(town.merchant), "unit_ids": [unit]},
        {"role": "organizer"},
        {"role": "organizer", "unit_ids": [unit], "merchant_id": str(town.merchant)},
        {"role": "organizer", "unit_ids": ["x"]},
    ):
        r = link(town, **body)
        assert r.status_code == 422, (body, r.text)
    assert link(town, role="merchant", merchant_id=str(uuid4())).status_code == 404
    assert link(town, role="organizer", unit_ids=[str(uuid4())]).status_code == 404
    for role in ("org_in", "merchant", "vol_own"):
        r = town.client.post("/v1/signin-links", json={"role": "organizer", "unit_ids": [unit]}, headers=town.headers(role))
        assert r.status_code == 403
    for body, status in (({"token": "mb_l_nope"}, 401), ({"token": ""}, 422), ({}, 422), ({"token": 5}, 422)):
        r = town.client.post("/v1/signin-links/exchange", json=body)
        assert r.status_code == status, (body, r.text)


def test_guessing_pins_and_links_is_rate_limited_by_address(town: Any, services: Any) -> None:
    from api.app import create_app
    from e2e_contract import CheckedClient

    services.settings.rate_failures_burst = 3
    # No refill during the test: a slow PIN hash on a loaded machine must not earn a try back.
    services.settings.rate_failures_per_minute = 0.001
    client = CheckedClient(create_app(services))
    codes = []
    for _ in range(2):
        vid = register(town).json()["volunteer"]["id"]
        codes.append(card_of(town, vid)["code"])
    statuses = [client.post("/v1/card-sessions", json={"card_code": c, "pin": "111222"}).status_code for c in codes]
    statuses.append(client.post("/v1/signin-links/exchange", json={"token": "mb_l_guess"}).status_code)
    assert statuses == [401, 401, 401]
    r = client.post("/v1/card-sessions", json={"card_code": codes[0], "pin": PIN})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
