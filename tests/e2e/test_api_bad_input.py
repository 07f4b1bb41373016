"""Bad input gets a 4xx problem with a stable code, never a 500, and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ledger import errors
from ledger.rules import UNIT_KINDS

from api import problems
from api import schemas as models


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    target: Callable[[Any], str]  # (world) -> path
    status: int
    code: str
    role: str = "admin"
    json: Callable[[Any], Any] | None = None
    content: bytes | None = None
    headers: dict[str, Any] = field(default_factory=dict)


def credit_body(w: Any, **change: Any) -> dict[str, Any]:
    body = {"volunteer_id": str(w.vol_own), "unit_id": str(w.units["community_a"]), "points": 5}
    body.update(change)
    return {k: v for k, v in body.items() if v is not ...}


def with_points(points: Any) -> Callable[[Any], Any]:
    return lambda w: credit_body(w, points=points)


def reversed_txn(w: Any) -> str:
    txn = w.credit()
    w.ledger.reverse(txn)
    return str(txn)


def reversal_txn(w: Any) -> str:
    return str(w.ledger.reverse(w.credit()).transaction.id)


def spent_txn(w: Any) -> str:
    volunteer = w.ledger.register_volunteer("spender", w.units["building_a"]).id
    txn = w.credit(volunteer, points=10)
    w.spend(volunteer, 8)
    return str(txn)


def cursor(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CREDITS, UNITS, ME = "/v1/credits", "/v1/units", "/v1/me/entries"
JSON = {"content-type": "application/json"}
random_id = lambda w: str(uuid.uuid4())  # noqa: E731

CASES = [
    # the body as a whole
    Bad("malformed json", "POST", lambda w: CREDITS, 400, "malformed_json", content=b'{"points": 5,', headers=JSON),
    Bad("not json", "POST", lambda w: CREDITS, 415, "unsupported_media_type", content=b"points=5", headers={"content-type": "text/plain"}),
    Bad("no content type", "POST", lambda w: CREDITS, 415, "unsupported_media_type", content=b'{"points": 5}'),
    Bad("empty body", "POST", lambda w: CREDITS, 422, "validation_error", content=b"", headers=JSON),
    Bad("array body", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: [1, 2]),
    Bad("string body", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: "street"),
    Bad("extra field", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, bonus=1)),
    Bad("missing field", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, points=...)),
    # points
    *[
        Bad(f"points {label}", "POST", lambda w: CREDITS, 422, "validation_error", json=with_points(value))
        for label, value in [
            ("negative", -5), ("zero", 0), ("over cap", 1_000_001), ("huge", 10**30), ("float", 1.5),
            ("whole float", 5.0), ("true", True), ("string", "5"), ("null", None), ("object", {"n": 5}),
        ]
    ],
    Bad("minutes negative", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, minutes=-1)),
    Bad("minutes float", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, minutes=1.0)),
    Bad("memo oversized", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, memo="x" * 501)),
    Bad("memo not a string", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, memo=7)),
    Bad("volunteer id not a uuid", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, volunteer_id="v1")),
    # unknown or out-of-scope things in a credit
    Bad("unknown volunteer", "POST", lambda w: CREDITS, 404, "not_found", json=lambda w: credit_body(w, volunteer_id=str(uuid.uuid4()))),
    Bad("unknown unit", "POST", lambda w: CREDITS, 404, "not_found", json=lambda w: credit_body(w, unit_id=str(uuid.uuid4()))),
    Bad("organizer: volunteer outside", "POST", lambda w: CREDITS, 403, "forbidden", role="org_in",
        json=lambda w: credit_body(w, volunteer_id=str(w.vol_other))),
    Bad("organizer: unit outside", "POST", lambda w: CREDITS, 403, "forbidden", role="org_in",
        json=lambda w: credit_body(w, unit_id=str(w.units["street_a"]))),
    Bad("revoked token", "POST", lambda w: CREDITS, 401, "unauthorized", role="revoked", json=credit_body),
    Bad("bad token", "POST", lambda w: CREDITS, 401, "unauthorized", role="bad", json=credit_body),
    Bad("basic auth", "GET", lambda w: "/v1/tokens", 401, "unauthorized", role="none", headers={"Authorization": "Basic YTpi"}),
    # idempotency keys
    Bad("idempotency key too long", "POST", lambda w: CREDITS, 400, "invalid_idempotency_key", json=credit_body,
        headers={"Idempotency-Key": "k" * 201}),
    Bad("idempotency key empty", "POST", lambda w: CREDITS, 400, "invalid_idempotency_key", json=credit_body,
        headers={"Idempotency-Key": ""}),
    Bad("idempotency key not ascii", "POST", lambda w: CREDITS, 400, "invalid_idempotency_key", json=credit_body,
        headers={"Idempotency-Key": "caf\xe9".encode("latin-1")}),
    # units
    Bad("unit kind not allowed", "POST", lambda w: UNITS, 422, "unit_kind_not_allowed",
        json=lambda w: {"name": "B", "kind": "building", "parent_id": str(w.units["street_a"])}),
    Bad("street under a street", "POST", lambda w: UNITS, 422, "unit_kind_not_allowed",
        json=lambda w: {"name": "S", "kind": "street", "parent_id": str(w.units["street_a"])}),
    Bad("community without parent", "POST", lambda w: UNITS, 422, "unit_kind_not_allowed", json=lambda w: {"name": "C", "kind": "community"}),
    Bad("unknown unit kind", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "P", "kind": "planet"}),
    Bad("unknown parent", "POST", lambda w: UNITS, 404, "not_found",
        json=lambda w: {"name": "C", "kind": "community", "parent_id": str(uuid.uuid4())}),
    Bad("name oversized", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "名" * 101, "kind": "street"}),
    Bad("name blank", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "   ", "kind": "street"}),
    Bad("name with NUL", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "a\x00b", "kind": "street"}),
    Bad("name with a line break", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "a\nb", "kind": "street"}),
    Bad("name lone surrogate", "POST", lambda w: UNITS, 422, "validation_error", content='{"name": "\\ud800", "kind": "street"}'.encode(), headers=JSON),
    Bad("memo with NUL", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, memo="x\x00")),
    # what the document allows, the ledger takes: a transaction's memo is one line; no C1 controls
    Bad("memo with a line break", "POST", lambda w: CREDITS, 422, "validation_error", json=lambda w: credit_body(w, memo="a\nb")),
    Bad("name with a control character at the end", "POST", lambda w: UNITS, 422, "validation_error",
        json=lambda w: {"name": "ab\x0b", "kind": "street"}),
    Bad("name with a C1 control", "POST", lambda w: UNITS, 422, "validation_error", json=lambda w: {"name": "a\x85b", "kind": "street"}),
    Bad("unit cycle", "POST", lambda w: f"/v1/units/{w.units['street_a']}/move", 422, "unit_cycle",
        json=lambda w: {"parent_id": str(w.units["building_a"])}),
    Bad("move under itself", "POST", lambda w: f"/v1/units/{w.units['compound_a']}/move", 422, "unit_cycle",
        json=lambda w: {"parent_id": str(w.units["compound_a"])}),
    Bad("move to a wrong kind", "POST", lambda w: f"/v1/units/{w.units['compound_a']}/move", 422, "unit_kind_not_allowed",
        json=lambda w: {"parent_id": str(w.units["street_b"])}),
    Bad("move unknown unit", "POST", lambda w: f"/v1/units/{uuid.uuid4()}/move", 404, "not_found",
        json=lambda w: {"parent_id": str(w.units["street_b"])}),
    Bad("unit bad uuid", "GET", lambda w: "/v1/units/not-a-uuid", 422, "validation_error"),
    Bad("unit unknown", "GET", lambda w: f"/v1/units/{uuid.uuid4()}", 404, "not_found"),
    # organizers and tokens
    Bad("organizer without units", "POST", lambda w: "/v1/organizers", 422, "validation_error", json=lambda w: {"name": "O", "unit_ids": []}),
    Bad("organizer unknown unit", "POST", lambda w: "/v1/organizers", 404, "not_found",
        json=lambda w: {"name": "O", "unit_ids": [str(uuid.uuid4())]}),
    Bad("revoke unknown token", "DELETE", lambda w: f"/v1/tokens/{uuid.uuid4()}", 404, "not_found"),
    Bad("revoke bad uuid", "DELETE", lambda w: "/v1/tokens/123", 422, "validation_error"),
    # volunteers
    Bad("volunteer member number too long", "POST", lambda w: "/v1/volunteers", 422, "validation_error",
        json=lambda w: {"name": "V", "unit_id": str(w.units["building_a"]), "member_no": "M" * 41}),
    Bad("volunteer phone not digits", "POST", lambda w: "/v1/volunteers", 422, "validation_error",
        json=lambda w: {"name": "V", "unit_id": str(w.units["building_a"]), "phone_last4": "12a4"}),
    Bad("volunteer unknown unit", "POST", lambda w: "/v1/volunteers", 404, "not_found",
        json=lambda w: {"name": "V", "unit_id": str(uuid.uuid4())}),
    Bad("volunteer unit outside", "POST", lambda w: "/v1/volunteers", 403, "forbidden", role="org_in",
        json=lambda w: {"name": "V", "unit_id": str(w.units["community_b"])}),
    Bad("volunteer bad uuid", "GET", lambda w: "/v1/volunteers/not-a-uuid/account", 422, "validation_error"),
    Bad("volunteer unknown", "GET", lambda w: f"/v1/volunteers/{uuid.uuid4()}", 404, "not_found"),
    Bad("volunteer unknown, organizer", "GET", lambda w: f"/v1/volunteers/{uuid.uuid4()}", 404, "not_found", role="org_in"),
    # transactions
    Bad("transaction unknown", "GET", lambda w: f"/v1/transactions/{uuid.uuid4()}", 404, "not_found"),
    Bad("reverse unknown", "POST", lambda w: f"/v1/transactions/{uuid.uuid4()}/reversal", 404, "not_found"),
    Bad("reverse twice", "POST", lambda w: f"/v1/transactions/{reversed_txn(w)}/reversal", 409, "already_reversed"),
    Bad("reverse a reversal", "POST", lambda w: f"/v1/transactions/{reversal_txn(w)}/reversal", 422, "not_reversible"),
    Bad("reverse spent points", "POST", lambda w: f"/v1/transactions/{spent_txn(w)}/reversal", 409, "insufficient_points"),
    Bad("reversal extra field", "POST", lambda w: f"/v1/transactions/{w.credit()}/reversal", 422, "validation_error",
        json=lambda w: {"memo": "x", "points": 3}),
    # pages
    Bad("cursor garbage", "GET", lambda w: f"{ME}?cursor=%%%", 400, "invalid_cursor", role="vol_own"),
    Bad("cursor not base64", "GET", lambda w: f"{ME}?cursor=zzz", 400, "invalid_cursor", role="vol_own"),
    Bad("cursor wrong payload", "GET", lambda w: f"{ME}?cursor={cursor('seq:abc')}", 400, "invalid_cursor", role="vol_own"),
    Bad("cursor negative", "GET", lambda w: f"{ME}?cursor={cursor('seq:-1')}", 400, "invalid_cursor", role="vol_own"),
    Bad("cursor huge", "GET", lambda w: f"{ME}?cursor={cursor('seq:' + '9' * 30)}", 400, "invalid_cursor", role="vol_own"),
    Bad("cursor oversized", "GET", lambda w: f"{ME}?cursor={'A' * 101}", 422, "validation_error", role="vol_own"),
    Bad("limit zero", "GET", lambda w: f"{ME}?limit=0", 422, "validation_error", role="vol_own"),
    Bad("limit too big", "GET", lambda w: f"{ME}?limit=201", 422, "validation_error", role="vol_own"),
    Bad("limit not a number", "GET", lambda w: f"{ME}?limit=ten", 422, "validation_error", role="vol_own"),
    Bad("events after negative", "GET", lambda w: "/v1/events?after=-1", 422, "validation_error"),
    Bad("events after beyond bigint", "GET", lambda w: f"/v1/events?after={2**63}", 422, "validation_error"),
    Bad("events limit too big", "GET", lambda w: "/v1/events?limit=1001", 422, "validation_error"),
    # days and instants are RFC 3339 text, never a number read as a Unix time
    Bad("roots day as a number", "GET", lambda w: "/v1/ledger/roots?to=0", 422, "validation_error", role="none"),
    Bad("roots day compact", "GET", lambda w: "/v1/ledger/roots?from=20261101", 422, "validation_error", role="none"),
    Bad("statement day as a number", "GET", lambda w: f"/v1/merchants/{w.merchant}/statement?from=0", 422, "validation_error"),
    Bad("leaderboard instant as a number", "GET", lambda w: f"/v1/leaderboards?unit_id={w.units['street_a']}&at=1800000000",
        422, "validation_error", role="none"),
    Bad("activity instants as numbers", "POST", lambda w: "/v1/activities", 422, "validation_error",
        json=lambda w: {"title": "t", "unit_id": str(w.units["community_a"]), "starts_at": 1800000000, "ends_at": 1800003600,
                        "points_per_hour": 10}),
    Bad("offer instant as a number", "POST", lambda w: f"/v1/merchants/{w.merchant}/offers", 422, "validation_error",
        json=lambda w: {"title": "t", "points": 5, "starts_at": 0}),
    # the edges of the calendar overflowed into 500s (zone conversion, the next day or year)
    Bad("roots in year 1", "GET", lambda w: "/v1/ledger/roots?from=0001-01-01&to=0001-01-02", 422, "validation_error", role="none"),
    Bad("statement in year 9999", "GET", lambda w: f"/v1/merchants/{w.merchant}/statement?from=9999-12-31", 422, "validation_error"),
    Bad("leaderboard in year 9999", "GET", lambda w: f"/v1/leaderboards?unit_id={w.units['street_a']}&at=9999-12-30T00:00:00%2B08:00",
        422, "validation_error", role="none"),
    Bad("offer ending with the calendar", "POST", lambda w: f"/v1/merchants/{w.merchant}/offers", 422, "validation_error",
        json=lambda w: {"title": "t", "points": 5, "ends_at": "9999-12-31T23:59:59Z"}),
    # stored, this one halted the alliance projection (UTC of year 1 minus 23:59 is before year 1)
    Bad("offer starting before the calendar", "POST", lambda w: f"/v1/merchants/{w.merchant}/offers", 422, "validation_error",
        json=lambda w: {"title": "t", "points": 5, "starts_at": "0001-01-01T00:00:00+23:59"}),
    Bad("activity in year 9999", "POST", lambda w: "/v1/activities", 422, "validation_error",
        json=lambda w: {"title": "t", "unit_id": str(w.units["community_a"]), "starts_at": "9999-12-31T20:00:00Z",
                        "ends_at": "9999-12-31T21:00:00Z", "points_per_hour": 10}),
    # the router itself
    Bad("unknown route", "GET", lambda w: "/v1/nothing-here", 404, "not_found"),
    Bad("wrong method", "PUT", lambda w: "/v1/units", 405, "method_not_allowed", json=lambda w: {}),
    Bad("wrong method on an id", "PATCH", lambda w: f"/v1/volunteers/{w.vol_own}", 405, "method_not_allowed", json=lambda w: {}),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_bad_input_is_a_problem(world: Any, case: Bad) -> None:
    path = case.target(world)
    kwargs: dict[str, Any] = {"headers": {**world.headers(case.role), **case.headers}}
    if case.json is not None:
        kwargs["json"] = case.json(world)
    if case.content is not None:
        kwargs["content"] = case.content
    before = world.head()
    response = world.client.request(case.method, path, **kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    body = response.json()
    assert body["code"] == case.code, body
    assert body["type"] == problems.TYPE_PREFIX + case.code
    assert body["instance"] == path.split("?")[0]
    assert world.head() == before, "a refused request wrote to the ledger"
    if case.code == "validation_error":
        assert body["errors"] and all({"loc", "msg", "type"} <= e.keys() for e in body["errors"])
    if case.status == 405:
        assert response.headers["allow"]


def test_405_allows_every_method_of_the_path(world: Any) -> None:
    # GET and POST /v1/activities are two routes; the router alone named the first one only.
    for path, allowed in (("/v1/activities", "GET, POST"), (f"/v1/merchants/{world.merchant}/suspension", "DELETE, POST")):
        response = world.client.request("OPTIONS", path, headers=world.headers("admin"))
        assert response.status_code == 405 and response.headers["allow"] == allowed, (path, response.headers)


def test_an_instant_at_the_edge_of_the_calendar_is_still_shown() -> None:
    # Stored before input was bounded (an offer's ends_at): listing it must not fail.
    from zoneinfo import ZoneInfo

    from api import datetimes as views

    shown = views.from_row_time("9999-12-31T23:59:59.000000+00:00", ZoneInfo("Asia/Shanghai"))
    assert shown.isoformat() == "9999-12-31T23:59:59+00:00"


def test_duplicate_member_number(world: Any) -> None:
    body = {"name": "M", "unit_id": str(world.units["building_a"]), "member_no": f"M-{uuid.uuid4().hex[:8]}"}
    first = world.client.post("/v1/volunteers", json=body, headers=world.headers("org_in"))
    assert first.status_code == 201
    before = world.head()
    again = world.client.post("/v1/volunteers", json=body, headers=world.headers("org_in"))
    assert (again.status_code, again.json()["code"]) == (409, "duplicate")
    assert world.head() == before


def test_every_ledger_error_has_a_row() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.LedgerError)]
    for cls in classes:
        if cls is errors.LedgerError:
            continue
        status, code, _ = problems.ledger_mapping(cls("x"))
        assert 400 <= status < 500
        assert code == (cls.code if status != 401 else "unauthorized"), cls


def test_unit_kinds_match_the_rules() -> None:
    assert set(models.UnitKind.__args__) == set(UNIT_KINDS)  # type: ignore[attr-defined]
