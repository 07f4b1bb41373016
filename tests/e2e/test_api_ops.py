"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from e2e_contract import CheckedClient
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import Services
from projections.db import Database


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_when_caught_up(client: Any, services: Services) -> None:
    services.catch_up()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    head = services.ledger.max_notification_id()
    assert body["status"] == "ready" and body["last_notification_id"] == head
    assert body["projections"] == {f.name: {"position": head, "lag": 0} for f in services.followers}


def test_readyz_when_a_projection_lags(client: Any, services: Services, settings: Any) -> None:
    services.catch_up()
    settings.readiness_max_lag = 1
    for name in ("A", "B"):
        services.ledger.create_unit(name, "street", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["projections_behind"] == {f.name: 2 for f in services.followers}
    services.catch_up()
    assert client.get("/readyz").status_code == 200


def test_readyz_when_the_store_is_unreachable(services: Services, tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite3")
    app = create_app(dataclasses.replace(services, db=broken))
    response = CheckedClient(app).get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"] == {"store": "OperationalError"}


def sample(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


def test_metrics_count_requests_by_route_template_and_status(client: Any, admin: dict[str, str], services: Services) -> None:
    unit = services.ledger.create_unit("S", "street", None).id
    client.get(f"/v1/units/{unit}", headers=admin)
    client.get(f"/v1/units/{unit}", headers=admin)
    client.get("/v1/units/not-a-uuid", headers=admin)
    client.get("/v1/units/" + str(unit))  # no token
    client.get("/no/such/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/v1/units/{unit_id}"
    assert sample(text, "moralbank_http_requests_total", method="GET", route=route, status="200") == 2
    assert sample(text, "moralbank_http_requests_total", method="GET", route=route, status="422") == 1
    assert sample(text, "moralbank_http_requests_total", method="GET", route=route, status="401") == 1
    assert sample(text, "moralbank_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert sample(text, "moralbank_http_request_duration_seconds_count", method="GET", route=route, status="200") == 2
    assert f"/v1/units/{unit}" not in text  # templates, never raw paths
    assert sample(text, "moralbank_projection_lag", projection="accounts") is not None


def test_each_app_has_its_own_registry(services: Services) -> None:
    one, two = CheckedClient(create_app(services)), CheckedClient(create_app(services))
    for _ in range(3):
        one.get("/healthz")
    two.get("/healthz")
    assert sample(one.get("/metrics").text, "moralbank_http_requests_total", method="GET", route="/healthz", status="200") == 3
    assert sample(two.get("/metrics").text, "moralbank_http_requests_total", method="GET", route="/healthz", status="200") == 1


def test_a_store_that_cannot_be_reached_answers_503_store_unavailable(world: Any, monkeypatch: Any) -> None:
    """PostgreSQL down or restarting (psycopg's or the eventsourcing library's
    OperationalError, a pool timeout) is a 503 problem the client may retry, not a 500."""
    import psycopg
    from eventsourcing.persistence import OperationalError
    from psycopg_pool import PoolTimeout

    client = world.client
    for error in (psycopg.OperationalError("server closed the connection"), OperationalError("down"), PoolTimeout("no connection")):
        def fail(*args: Any, _e: Exception = error, **kwargs: Any) -> Any:
            raise _e

        monkeypatch.setattr(world.services.ledger, "get_unit", fail)
        response = client.post(
            "/v1/credits", headers={**world.headers("admin"), "Idempotency-Key": "store-down"},
            json={"volunteer_id": str(world.vol_own), "unit_id": str(world.units["community_a"]), "points": 1},
        )
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "store_unavailable"
        assert response.headers["retry-after"] == "1"
        assert "Traceback" not in response.text
    # A programming error is still a bug (500), not hidden as an outage.
    def bug(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.ProgrammingError("bad sql")

    monkeypatch.setattr(world.services.ledger, "get_unit", bug)
    raw = TestClient(world.client.app, raise_server_exceptions=False)
    assert raw.post(
        "/v1/credits", headers={**world.headers("admin"), "Idempotency-Key": "store-bug"},
        json={"volunteer_id": str(world.vol_own), "unit_id": str(world.units["community_a"]), "points": 1},
    ).status_code == 500
