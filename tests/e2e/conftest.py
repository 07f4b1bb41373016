"""End-to-end fixtures: the HTTP API over real services on each store.

Every request made through ``CheckedClient`` is checked against the contract on the way:
a 4xx/5xx is an RFC 9457 problem with a stable code, a 401 carries ``WWW-Authenticate``,
and the status is one that /openapi.json documents for the matched route.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from api.app import create_app
from api.context import Services
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.clock import ManualClock

PROBLEM = "application/problem+json"
ROLES = ("none", "bad", "revoked", "admin", "org_in", "org_out", "vol_own", "vol_other", "merchant")


def documented_statuses(app: FastAPI, method: str, path: str) -> set[str] | None:
    """The statuses /openapi.json documents for the route matching ``path`` (None when no
    documented route matches, e.g. an unknown path or a wrong method)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            if not getattr(route, "include_in_schema", False):
                return None
            operation = app.openapi()["paths"][route.path][method.lower()]  # type: ignore[attr-defined]
            return set(operation["responses"])
    return None


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


@pytest.fixture
def client(services: Services) -> CheckedClient:
    return CheckedClient(create_app(services))


@pytest.fixture
def admin(settings: Any) -> dict[str, str]:
    return bearer(settings.bootstrap_token.get_secret_value())


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
    merchant = uuid.uuid4()
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


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    tmp = tmp_path_factory.mktemp(f"world-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/world.sqlite3"
    else:
        url = request.getfixturevalue("pg_cluster").create_database(f"w_{uuid.uuid4().hex[:12]}")
    bootstrap = "mb_e2e_world_admin"
    settings = Settings(
        database_url=url, var_dir=Path(tmp) / "var", secret_key="e2e-signing-key", bootstrap_token=bootstrap, pool_size=8
    )
    services = build_services(settings, clock=ManualClock())
    yield build_world(services, bootstrap)
    close_services(services)
