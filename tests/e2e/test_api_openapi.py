"""/openapi.json documents every route, its problems, and what the server does.

(Every response in this tier is also checked against the documented statuses of its
route by ``CheckedClient``.)"""

from __future__ import annotations

from typing import Any

from e2e_contract import schema_routes

CONTRACT = {
    ("post", "/v1/units"),
    ("get", "/v1/units/{unit_id}"),
    ("get", "/v1/units"),
    ("get", "/v1/volunteers"),
    ("post", "/v1/rosters"),
    ("post", "/v1/units/{unit_id}/move"),
    ("post", "/v1/organizers"),
    ("get", "/v1/tokens"),
    ("get", "/v1/me/principal"),
    ("delete", "/v1/tokens/{token_id}"),
    ("get", "/v1/events"),
    ("post", "/v1/volunteers"),
    ("get", "/v1/volunteers/{volunteer_id}"),
    ("get", "/v1/volunteers/{volunteer_id}/account"),
    ("get", "/v1/volunteers/{volunteer_id}/entries"),
    ("post", "/v1/credits"),
    ("get", "/v1/transactions/{transaction_id}"),
    ("post", "/v1/transactions/{transaction_id}/reversal"),
    ("get", "/v1/me"),
    ("get", "/v1/me/account"),
    ("get", "/v1/me/entries"),
    ("post", "/v1/volunteers/{volunteer_id}/move"),
    ("get", "/v1/leaderboards"),
    ("post", "/v1/activities"),
    ("get", "/v1/activities"),
    ("get", "/v1/activities/{activity_id}"),
    ("get", "/v1/activities/{activity_id}/qr"),
    ("get", "/v1/activities/{activity_id}/attendances"),
    ("post", "/v1/activities/{activity_id}/approvals"),
    ("post", "/v1/activities/{activity_id}/settlement"),
    ("post", "/v1/activities/{activity_id}/cancellation"),
    ("post", "/v1/scans"),
    ("post", "/v1/batches"),
    ("get", "/v1/batches/{batch_id}"),
    ("get", "/v1/batches/{batch_id}/refused.csv"),
    ("post", "/v1/batches/{batch_id}/reversal"),
    ("post", "/v1/merchants"),
    ("get", "/v1/merchants"),
    ("get", "/v1/merchants/me"),
    ("get", "/v1/merchants/{merchant_id}"),
    ("post", "/v1/merchants/{merchant_id}/suspension"),
    ("delete", "/v1/merchants/{merchant_id}/suspension"),
    ("get", "/v1/merchants/{merchant_id}/code"),
    ("post", "/v1/merchants/{merchant_id}/offers"),
    ("get", "/v1/merchants/{merchant_id}/offers"),
    ("get", "/v1/merchants/{merchant_id}/statement"),
    ("post", "/v1/offers/{offer_id}/withdrawal"),
    ("get", "/v1/me/pay-code"),
    ("post", "/v1/me/payments"),
    ("post", "/v1/redemptions"),
    ("get", "/v1/redemptions/{redemption_id}"),
    ("post", "/v1/redemptions/{redemption_id}/reversal"),
    ("get", "/v1/ledger/roots"),
    ("get", "/v1/me/entries/{transaction_id}/proof"),
    ("post", "/v1/volunteers/{volunteer_id}/card"),
    ("post", "/v1/volunteers/{volunteer_id}/card/unlock"),
    ("get", "/v1/volunteers/{volunteer_id}/card"),
    ("get", "/v1/cards/sheet"),
    ("post", "/v1/card-sessions"),
    ("put", "/v1/me/pin"),
    ("post", "/v1/signin-links"),
    ("post", "/v1/signin-links/exchange"),
    ("post", "/v1/activities/{activity_id}/offline-scans"),
    ("post", "/v1/card-payments"),
    ("get", "/v1/units/{unit_id}/card-cap"),
    ("put", "/v1/units/{unit_id}/card-cap"),
    ("get", "/v1/units/{unit_id}/alliance-statement"),
    ("get", "/v1/units/{unit_id}/expiry-policy"),
    ("put", "/v1/units/{unit_id}/expiry-policy"),
    ("get", "/v1/units/{unit_id}/expiring"),
    ("get", "/v1/units/{unit_id}/report"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}
PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/leaderboards", "/v1/merchants", "/v1/merchants/{merchant_id}",
          "/v1/merchants/{merchant_id}/offers", "/v1/ledger/roots", "/v1/card-sessions", "/v1/signin-links/exchange"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, p): op for p, item in doc["paths"].items() for m, op in item.items()}


def test_openapi_lists_every_route(client: Any) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert set(operations(doc)) == CONTRACT
    assert schema_routes(client.app) == CONTRACT


def test_problems_are_documented_as_problem_json(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    assert {"type", "title", "status", "detail", "code"} <= set(doc["components"]["schemas"]["Problem"]["required"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for (method, path), op in operations(doc).items():
        statuses = set(op["responses"])
        if path not in PUBLIC:
            assert {"401", "403"} <= statuses, (method, path)
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in statuses, (method, path)
        if op.get("requestBody"):
            assert {"400", "415"} <= statuses, (method, path)
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (method, path, status)
            else:
                assert response["content"], (method, path, status)


def test_a_token_is_optional_where_the_route_takes_one_but_needs_none(town: Any) -> None:
    # The leaderboard shows full names to staff who send a token, masked ones to anyone.
    op = town.client.get("/openapi.json").json()["paths"]["/v1/leaderboards"]["get"]
    assert sorted(op["security"], key=len) == [{}, {"HTTPBearer": []}]
    assert town.client.get(f"/v1/leaderboards?unit_id={town.units['street_a']}").status_code == 200


def test_points_and_idempotency_are_documented(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    credit = doc["components"]["schemas"]["CreditIn"]
    assert credit["additionalProperties"] is False
    assert credit["properties"]["points"]["exclusiveMinimum"] == 0
    assert credit["properties"]["points"]["maximum"] == 1_000_000
    for path in ("/v1/credits", "/v1/transactions/{transaction_id}/reversal"):
        op = doc["paths"][path]["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])
        assert "Idempotent-Replayed" in op["responses"]["201"]["headers"]
        assert "409" in op["responses"]
