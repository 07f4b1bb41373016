"""Every route × every kind of caller → the documented status, and a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Callable
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_contract import schema_routes

ROLES = ("none", "bad", "revoked", "admin", "org_in", "org_out", "vol_own", "vol_other", "merchant")
OK, NEW = 200, 201
UNAUTH = (401, 401, 401)  # no token, unknown token, revoked token


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    # (world) -> (path, json body or None); may prepare fresh things (a token to revoke, …)
    target: Callable[[Any], tuple[str, Any]]
    # expected status per role, in ROLES order
    expect: tuple[int, ...]
    headers: tuple[tuple[str, str], ...] = ()  # sent by every role (a till's Idempotency-Key)


def fixed(path: str, body: Any = None) -> Callable[[Any], tuple[str, Any]]:
    return lambda w: (path.format(**w.units, vol_own=w.vol_own), body(w) if callable(body) else body)


#                    none/bad/revoked   admin  org_in  org_out  vol_own  vol_other  merchant
ADMIN_ONLY = (*UNAUTH, OK, 403, 403, 403, 403, 403)
STAFF_IN_SCOPE = (*UNAUTH, OK, OK, 403, 403, 403, 403)
PERSON = (*UNAUTH, OK, OK, 403, OK, 404, 403)
VOLUNTEERS = (*UNAUTH, 403, 403, 403, OK, OK, 403)
PUBLIC = (OK,) * 9


def created(row: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(NEW if s == OK else s for s in row)


# The merchant alliance (issue 6). The world's merchant token belongs to a registered shop.
SHOP_OR_ADMIN = (*UNAUTH, OK, 403, 403, 403, 403, OK)
SHOP_ONLY = (*UNAUTH, 403, 403, 403, 403, 403, OK)


def _shop(w: Any) -> str:
    return str(w.merchant)


def _fresh_shop(w: Any) -> str:
    return str(w.services.alliance.register_merchant("Shop", w.units["building_a"])[0].id)


def _fresh_offer(w: Any) -> str:
    return str(w.services.alliance.create_offer(w.merchant, "Tea", 1).id)


def _pay_code(w: Any) -> str:
    return str(w.services.alliance.issue_pay_code(w.vol_own).code)


def _redemption(w: Any) -> str:
    return str(w.services.alliance.redeem(w.merchant, _pay_code(w), points=1).redemption.id)


def _pay(w: Any) -> tuple[str, Any]:
    w.credit(w.vol_other, 1, unit="community_b")  # so both volunteers can pay
    return "/v1/me/payments", {"merchant_code": w.services.alliance.merchant_code(w.merchant), "points": 1}


ALLIANCE_CASES = [
    Case("register merchant", "POST", fixed("/v1/merchants", lambda w: {"name": "M", "unit_id": str(w.units["building_a"])}), created(ADMIN_ONLY)),
    Case("list merchants", "GET", fixed("/v1/merchants?unit_id={street_a}"), PUBLIC),
    Case("my merchant", "GET", fixed("/v1/merchants/me"), SHOP_ONLY),
    Case("get merchant", "GET", lambda w: (f"/v1/merchants/{_shop(w)}", None), PUBLIC),
    Case("suspend merchant", "POST", lambda w: (f"/v1/merchants/{_fresh_shop(w)}/suspension", {"reason": "x"}), ADMIN_ONLY),
    Case("reinstate merchant", "DELETE", lambda w: (f"/v1/merchants/{_fresh_shop(w)}/suspension", None), ADMIN_ONLY),
    Case("merchant code", "GET", lambda w: (f"/v1/merchants/{_shop(w)}/code", None), SHOP_OR_ADMIN),
    Case("create offer", "POST", lambda w: (f"/v1/merchants/{_shop(w)}/offers", {"title": "T", "points": 2}), created(SHOP_OR_ADMIN)),
    Case("list offers", "GET", lambda w: (f"/v1/merchants/{_shop(w)}/offers", None), PUBLIC),
    Case("withdraw offer", "POST", lambda w: (f"/v1/offers/{_fresh_offer(w)}/withdrawal", None), SHOP_OR_ADMIN),
    Case("pay code", "GET", fixed("/v1/me/pay-code"), VOLUNTEERS),
    Case("redeem", "POST", lambda w: ("/v1/redemptions", {"pay_code": _pay_code(w), "points": 1}), created(SHOP_ONLY)),
    Case("get redemption", "GET", lambda w: (f"/v1/redemptions/{_redemption(w)}", None), (*UNAUTH, OK, 403, 403, OK, 404, OK)),
    Case("reverse redemption", "POST", lambda w: (f"/v1/redemptions/{_redemption(w)}/reversal", {"reason": "r"}), created(SHOP_OR_ADMIN)),
    Case("statement", "GET", lambda w: (f"/v1/merchants/{_shop(w)}/statement", None), SHOP_OR_ADMIN),
    Case("pay a merchant", "POST", _pay, created(VOLUNTEERS)),
]


# Welfare-day batches (issue 5). A JSON body is refused as 415, after the role and scope checks.
def _batch(w: Any) -> str:
    batches = w.services.batches
    path = batches.spool_dir / f"matrix-{uuid.uuid4().hex}.csv"
    batches.spool_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"volunteer_id,points,line_key\n{w.vol_own},1,{uuid.uuid4()}\n")
    sub = batches.submit(batches.spool_file(path), "csv", key=str(uuid.uuid4()), title="公益日",
                         unit_id=w.units["community_a"], scope=None, actor="matrix")
    path.unlink()
    return str(batches.run(sub.batch.id).id)


BATCH_CASES = [
    Case("upload batch (JSON: 415)", "POST", fixed("/v1/batches?unit_id={community_a}&title=T", {"x": 1}),
         (*UNAUTH, 415, 415, 403, 403, 403, 403)),
    Case("get batch", "GET", lambda w: (f"/v1/batches/{_batch(w)}", None), STAFF_IN_SCOPE),
    Case("batch report", "GET", lambda w: (f"/v1/batches/{_batch(w)}/refused.csv", None), STAFF_IN_SCOPE),
    Case("reverse batch", "POST", lambda w: (f"/v1/batches/{_batch(w)}/reversal", None), STAFF_IN_SCOPE),
]


# Activities and scans (issue 4): an activity in community_a running now.
def _activity(w: Any, *, over: bool = False, **kw: Any) -> str:
    from datetime import timedelta

    now = w.services.clock.now()
    start = now - timedelta(days=2) if over else now - timedelta(minutes=5)
    att = w.services.attendance
    return str(att.create_activity("清扫", w.units["community_a"], start, start + timedelta(hours=2), 10, **kw).id)


def _activity_body(w: Any) -> dict[str, Any]:
    from datetime import timedelta

    now = w.services.clock.now()
    return {"title": "植树", "unit_id": str(w.units["community_a"]), "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(), "points_per_hour": 10}


def _scan(w: Any) -> tuple[str, Any]:
    activity = w.services.attendance.code_for(uuid.UUID(_activity(w)))
    return "/v1/scans", {"code": activity.code}


ACTIVITY_CASES = [
    Case("create activity", "POST", fixed("/v1/activities", _activity_body), created(STAFF_IN_SCOPE)),
    Case("list activities", "GET", fixed("/v1/activities"), (*UNAUTH, OK, OK, OK, 403, 403, 403)),
    Case("get activity", "GET", lambda w: (f"/v1/activities/{_activity(w)}", None), STAFF_IN_SCOPE),
    Case("activity code", "GET", lambda w: (f"/v1/activities/{_activity(w)}/qr?format=json", None), STAFF_IN_SCOPE),
    Case("attendances", "GET", lambda w: (f"/v1/activities/{_activity(w)}/attendances", None), STAFF_IN_SCOPE),
    Case("approvals", "POST", lambda w: (f"/v1/activities/{_activity(w, needs_approval=True)}/approvals",
                                          {"decision": "approve"}), STAFF_IN_SCOPE),
    Case("settlement", "POST", lambda w: (f"/v1/activities/{_activity(w, over=True)}/settlement", {}), STAFF_IN_SCOPE),
    Case("cancel activity", "POST", lambda w: (f"/v1/activities/{_activity(w)}/cancellation", {"reason": "雨"}), STAFF_IN_SCOPE),
    Case("scan", "POST", _scan, (*UNAUTH, 403, 403, 403, OK, OK, 403)),
]


# Member cards and sign-in (issue 14): the world's two volunteers get cards with a known PIN.
PIN = "482913"


def _cards(w: Any) -> Any:
    from ledger.cards.service import Cards

    return Cards(w.ledger, w.services.settings.signing_key())


def _carded(w: Any) -> str:
    """vol_own's card, issued (again) with PIN; vol_other's too."""
    for v in (w.vol_own, w.vol_other):
        _cards(w).issue(v, PIN)
    return str(w.vol_own)


def _card_session(w: Any) -> tuple[str, Any]:
    cards = _cards(w)
    v = w.ledger.register_volunteer("持卡人", w.units["building_a"], also_save=lambda v: [cards.new_card(v.id, PIN)])
    return "/v1/card-sessions", {"card_code": cards.code_for(cards.get(v.id)), "pin": PIN}


def _link(w: Any) -> tuple[str, Any]:
    new = _cards(w).create_link("merchant", "shop staff", subject_id=w.merchant)
    return "/v1/signin-links/exchange", {"token": new.secret}


CARD_CASES = [
    Case("issue card", "POST", lambda w: (f"/v1/volunteers/{w.vol_own}/card", {"pin": PIN}), created(STAFF_IN_SCOPE)),
    Case("unlock card", "POST", lambda w: (f"/v1/volunteers/{_carded(w)}/card/unlock", None), STAFF_IN_SCOPE),
    Case("get card", "GET", lambda w: (f"/v1/volunteers/{_carded(w)}/card", None), PERSON),
    Case("card sheet", "GET", lambda w: (f"/v1/cards/sheet?volunteer_ids={_carded(w)}&format=html", None), STAFF_IN_SCOPE),
    Case("card sign-in", "POST", _card_session, created(PUBLIC)),
    Case("change PIN", "PUT", lambda w: (_carded(w) and "/v1/me/pin", {"current_pin": PIN, "new_pin": "730412"}), VOLUNTEERS),
    Case("create sign-in link", "POST", fixed("/v1/signin-links", lambda w: {"role": "merchant", "merchant_id": str(w.merchant)}),
         created(ADMIN_ONLY)),
    Case("exchange sign-in link", "POST", _link, created(PUBLIC)),
]


# Offline scanning and card payments (issue 18).
def _card_scan(w: Any) -> tuple[str, Any]:
    _carded(w)
    cards = _cards(w)
    scan = {"nonce": uuid.uuid4().hex, "code": cards.code_for(cards.get(w.vol_own)), "scanned_at": w.services.clock.now().isoformat()}
    return f"/v1/activities/{_activity(w)}/offline-scans", {"device": "matrix", "scans": [scan]}


def _card_payment(w: Any) -> tuple[str, Any]:
    _carded(w)
    cards = _cards(w)
    return "/v1/card-payments", {"card_code": cards.code_for(cards.get(w.vol_own)), "pin": PIN, "points": 1}


OFFLINE_CARD_CASES = [
    Case("organizer card scans", "POST", _card_scan, STAFF_IN_SCOPE),
    Case("card payment", "POST", _card_payment, created(SHOP_ONLY), headers=(("Idempotency-Key", "matrix-card-payment"),)),
    Case("card cap", "GET", fixed("/v1/units/{community_a}/card-cap"), STAFF_IN_SCOPE),
    Case("set card cap", "PUT", fixed("/v1/units/{community_a}/card-cap", {"daily_cap": 150}), ADMIN_ONLY),
]


# Lots, expiry and fund lineage (issue 17).
LOT_CASES = [
    Case("unit alliance statement", "GET", fixed("/v1/units/{community_a}/alliance-statement"), STAFF_IN_SCOPE),
    Case("unit alliance statement CSV", "GET", fixed("/v1/units/{community_a}/alliance-statement?format=csv"), STAFF_IN_SCOPE),
    Case("expiry policy", "GET", fixed("/v1/units/{community_a}/expiry-policy"), STAFF_IN_SCOPE),
    Case("set expiry policy", "PUT", fixed("/v1/units/{community_a}/expiry-policy", {"kind": "never"}), ADMIN_ONLY),
    Case("expiring", "GET", fixed("/v1/units/{community_a}/expiring?days=30"), STAFF_IN_SCOPE),
]


CASES = [
    Case("create unit", "POST", fixed("/v1/units", lambda w: {"name": "U", "kind": "community", "parent_id": str(w.units["street_a"])}), created(ADMIN_ONLY)),
    Case("get unit in scope", "GET", fixed("/v1/units/{community_a}"), STAFF_IN_SCOPE),
    # the console's directory and roster import (issue 14): each organizer sees its own units
    Case("list units", "GET", fixed("/v1/units"), (*UNAUTH, OK, OK, OK, 403, 403, 403)),
    Case("search volunteers", "GET", fixed("/v1/volunteers?q=Own"), (*UNAUTH, OK, OK, OK, 403, 403, 403)),
    Case("import roster (JSON: 415)", "POST", fixed("/v1/rosters", {"x": 1}), (*UNAUTH, 415, 415, 415, 403, 403, 403)),
    Case("get unit below scope", "GET", fixed("/v1/units/{building_a}"), STAFF_IN_SCOPE),
    Case("get unit above scope", "GET", fixed("/v1/units/{street_a}"), ADMIN_ONLY),
    Case("unit report", "GET", fixed("/v1/units/{community_a}/report"), STAFF_IN_SCOPE),
    Case("unit report above scope", "GET", fixed("/v1/units/{street_a}/report?format=png&chart=hours"), ADMIN_ONLY),
    Case("unit report, full names", "GET", fixed("/v1/units/{community_a}/report?full_names=true"), ADMIN_ONLY),
    Case("move unit", "POST", lambda w: (f"/v1/units/{w.fresh_building()}/move", {"parent_id": str(w.units["compound_a"])}), ADMIN_ONLY),
    Case("create organizer", "POST", fixed("/v1/organizers", lambda w: {"name": "O", "unit_ids": [str(w.units["community_a"])]}), created(ADMIN_ONLY)),
    Case("list tokens", "GET", fixed("/v1/tokens"), ADMIN_ONLY),
    Case("who am I", "GET", fixed("/v1/me/principal"), (*UNAUTH, OK, OK, OK, OK, OK, OK)),
    Case("revoke token", "DELETE", lambda w: (f"/v1/tokens/{w.fresh_token()}", None), ADMIN_ONLY),
    Case("events", "GET", fixed("/v1/events?limit=5"), ADMIN_ONLY),
    Case("register volunteer", "POST", fixed("/v1/volunteers", lambda w: {"name": "V", "unit_id": str(w.units["building_a"])}), created(STAFF_IN_SCOPE)),
    Case("get volunteer", "GET", fixed("/v1/volunteers/{vol_own}"), PERSON),
    Case("volunteer account", "GET", fixed("/v1/volunteers/{vol_own}/account"), PERSON),
    Case("volunteer entries", "GET", fixed("/v1/volunteers/{vol_own}/entries"), PERSON),
    Case(
        "credit", "POST",
        fixed("/v1/credits", lambda w: {"volunteer_id": str(w.vol_own), "unit_id": str(w.units["community_a"]), "points": 1}),
        created(STAFF_IN_SCOPE),
    ),
    Case("get transaction", "GET", lambda w: (f"/v1/transactions/{w.credit()}", None), (*UNAUTH, OK, OK, 403, OK, 404, 404)),
    Case("reverse", "POST", lambda w: (f"/v1/transactions/{w.credit()}/reversal", {"memo": "oops"}), created(STAFF_IN_SCOPE)),
    Case("me", "GET", fixed("/v1/me"), VOLUNTEERS),
    Case("my account", "GET", fixed("/v1/me/account"), VOLUNTEERS),
    Case("my entries", "GET", fixed("/v1/me/entries"), VOLUNTEERS),
    Case("move volunteer", "POST", fixed("/v1/volunteers/{vol_own}/move", lambda w: {"unit_id": str(w.units["compound_a"])}), STAFF_IN_SCOPE),
    Case("leaderboard", "GET", fixed("/v1/leaderboards?unit_id={street_a}"), (OK, 401, 401, *(OK,) * 6)),
    *BATCH_CASES,
    *ACTIVITY_CASES,
    *ALLIANCE_CASES,
    *CARD_CASES,
    *OFFLINE_CARD_CASES,
    *LOT_CASES,
    Case("daily roots", "GET", fixed("/v1/ledger/roots"), PUBLIC),
    Case("entry proof", "GET", lambda w: (f"/v1/me/entries/{w.credit()}/proof", None), (*UNAUTH, 403, 403, 403, OK, 404, 403)),
    Case("healthz", "GET", fixed("/healthz"), PUBLIC),
    Case("readyz", "GET", fixed("/readyz"), PUBLIC),
    Case("metrics", "GET", fixed("/metrics"), PUBLIC),
    Case("openapi", "GET", fixed("/openapi.json"), PUBLIC),
]

assert all(len(c.expect) == len(ROLES) for c in CASES)

PARAMS = [pytest.param(c, role, i, id=f"{c.name}-{role}") for c in CASES for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("case", "role", "column"), PARAMS)
def test_route_by_role(world: Any, case: Case, role: str, column: int) -> None:
    path, body = case.target(world)
    before = world.head()
    response = world.client.request(case.method, path, json=body, headers={**world.headers(role), **dict(case.headers)})
    expected = case.expect[column]
    assert response.status_code == expected, (case.name, role, response.text)
    if expected >= 400:
        assert world.head() == before, "a refused request wrote to the ledger"
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 415: "unsupported_media_type"}[expected]
        assert response.json()["code"] == code


def test_every_api_route_is_in_the_matrix(world: Any) -> None:
    app = world.client.app
    covered = set()
    for case in CASES:
        path, _ = case.target(world)
        for method, template in schema_routes(app):
            pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
            if method == case.method.lower() and re.match(pattern, path.split("?")[0]):
                covered.add((method, template))
    assert len(schema_routes(app)) >= 22  # the matrix must grow with the API: the next line says how
    assert schema_routes(app) - covered == set()
