"""What the e2e tests share: a client that checks every response against the contract,
and a small neighbourhood to call the API in.

Every request made through ``CheckedClient`` is checked on the way: a 4xx/5xx is an
RFC 9457 problem with a stable code, a 401 carries ``WWW-Authenticate``, and the status is
one that /openapi.json documents for the operation.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import Services
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account

PROBLEM = "application/problem+json"
ROLES = ("none", "bad", "revoked", "admin", "org_in", "org_out", "vol_own", "vol_other", "merchant")


def documented_statuses(app: FastAPI, method: str, path: str) -> set[str] | None:
    """The statuses /openapi.json documents for ``method path`` (None when the document has
    no such operation: an unknown path, a wrong method, or an undocumented route)."""
    for template, item in app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return set(item[method.lower()]["responses"])
    return None


def schema_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves and documents."""
    return {
        (m.lower(), rc.path)
        for rc in iter_route_contexts(app.routes)
        if getattr(rc, "include_in_schema", False)
        for m in rc.methods - {"HEAD"}
    }


def check_contract(app: FastAPI, response: httpx.Response) -> None:
    request = response.request
    status = response.status_code
    if status >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), (status, response.text)
        body = response.json()
        assert body["status"] == status, body
        assert body["code"] and body["type"].endswith(body["code"]), body
        assert {"title", "detail"} <= body.keys(), body
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    documented = documented_statuses(app, request.method, request.url.path)
    if documented is not None:
        assert str(status) in documented, f"{request.method} {request.url.path} answered {status}, documented {sorted(documented)}"


class CheckedClient(TestClient):
    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        check_contract(self.app, response)  # type: ignore[arg-type]
        return response


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


# ---------------------------------------------------------------- a shared world per store


@dataclass
class World:
    """A small neighbourhood on one store, built once per test session and worker:

    street A → community A → compound A → building A (vol_own lives here)
    street B → community B (vol_other lives here)

    org_in is scoped to community A, org_out to street B.
    """

    services: Services
    client: CheckedClient
    secrets: dict[str, str | None]
    units: dict[str, uuid.UUID]
    vol_own: uuid.UUID
    vol_other: uuid.UUID
    merchant: uuid.UUID
    n: int = field(default=0)

    @property
    def ledger(self) -> Any:
        return self.services.ledger

    def headers(self, role: str) -> dict[str, str]:
        return bearer(self.secrets[role])

    def head(self) -> int:
        return int(self.ledger.max_notification_id())

    def credit(self, volunteer: uuid.UUID | None = None, points: int = 10, unit: str = "community_a") -> uuid.UUID:
        self.n += 1
        result = self.ledger.credit(
            f"world:{uuid.uuid4()}", self.units[unit], volunteer or self.vol_own, points, minutes=30, memo=f"c{self.n}"
        )
        return result.transaction.id  # type: ignore[no-any-return]

    def spend(self, volunteer: uuid.UUID, points: int) -> None:
        """Points from a volunteer to the world's merchant (no redemption route yet)."""
        self.ledger.post(
            f"world:{uuid.uuid4()}", "redemption", [Posting(volunteer_account(volunteer), merchant_account(self.merchant), points)]
        )

    def fresh_token(self) -> uuid.UUID:
        return self.ledger.issue_token("organizer", "disposable", unit_ids=[self.units["community_a"]]).token.id  # type: ignore[no-any-return]

    def fresh_building(self) -> uuid.UUID:
        return self.ledger.create_unit("disposable", "building", self.units["compound_a"]).id  # type: ignore[no-any-return]


def build_world(services: Services, bootstrap: str) -> World:
    ledger = services.ledger
    units: dict[str, uuid.UUID] = {}
    units["street_a"] = ledger.create_unit("Street A", "street", None).id
    units["community_a"] = ledger.create_unit("Community A", "community", units["street_a"]).id
    units["compound_a"] = ledger.create_unit("Compound A", "compound", units["community_a"]).id
    units["building_a"] = ledger.create_unit("Building A", "building", units["compound_a"]).id
    units["street_b"] = ledger.create_unit("Street B", "street", None).id
    units["community_b"] = ledger.create_unit("Community B", "community", units["street_b"]).id
    vol_own = ledger.register_volunteer("Own", units["building_a"]).id
    vol_other = ledger.register_volunteer("Other", units["community_b"]).id
    merchant = services.alliance.register_merchant("Shop A", units["building_a"])[0].id
    revoked = ledger.issue_token("admin", "revoked admin")
    ledger.revoke_token(revoked.token.id)
    secrets = {
        "none": None,
        "bad": "mb_x_not-a-token",
        "revoked": revoked.secret,
        "admin": bootstrap,
        "org_in": ledger.issue_token("organizer", "org in", unit_ids=[units["community_a"]]).secret,
        "org_out": ledger.issue_token("organizer", "org out", unit_ids=[units["street_b"]]).secret,
        "vol_own": ledger.issue_token("volunteer", "own", subject_id=vol_own).secret,
        "vol_other": ledger.issue_token("volunteer", "other", subject_id=vol_other).secret,
        "merchant": ledger.issue_token("merchant", "shop", subject_id=merchant).secret,
    }
    ledger.credit("world:seed", units["community_a"], vol_own, 100, minutes=60)
    services.catch_up()
    assert ledger.guarded_balance(volunteer_account(vol_own)) == 100
    assert issuing_account(units["community_a"])
    return World(services, CheckedClient(create_app(services)), secrets, units, vol_own, vol_other, merchant)
