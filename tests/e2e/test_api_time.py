"""Timestamps are RFC 3339 with the offset of the configured zone, on every view."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from e2e_contract import CheckedClient

from api.app import create_app


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Shanghai", timedelta(hours=8)), ("America/Sao_Paulo", timedelta(hours=-3))])
def test_timestamps_are_in_the_configured_zone(town: Any, settings: Any, zone: str, offset: timedelta) -> None:
    settings.timezone = zone
    client = CheckedClient(create_app(town.services))
    txn = town.credit()
    town.services.catch_up()
    now = town.services.clock.now()
    org, vol = town.headers("org_in"), town.headers("vol_own")
    stamps = [
        client.get(f"/v1/transactions/{txn}", headers=org).json()["at"],
        client.get("/v1/me/entries", headers=vol).json()["items"][0]["at"],
        client.get("/v1/me", headers=vol).json()["registered_at"],
        client.get(f"/v1/units/{town.units['community_a']}", headers=org).json()["created_at"],
        client.get("/v1/tokens", headers=town.headers("admin")).json()["items"][0]["issued_at"],
    ]
    for text in stamps:
        at = datetime.fromisoformat(text)
        assert at.utcoffset() == offset, text
        assert at == now  # the manual clock never moved
    events = client.get("/v1/events", headers=town.headers("admin")).json()["items"]
    assert datetime.fromisoformat(events[-1]["data"]["at"]).utcoffset() == offset


def test_odd_tokens(town: Any) -> None:
    c, ledger = town.client, town.ledger
    nobody = ledger.issue_token("volunteer", "nobody").secret
    assert (c.get("/v1/me", headers={"Authorization": f"Bearer {nobody}"}).json()["code"]) == "forbidden"
    ghost = ledger.issue_token("volunteer", "ghost", subject_id=uuid.uuid4()).secret
    assert c.get("/v1/me/account", headers={"Authorization": f"Bearer {ghost}"}).status_code == 404
    revoked = town.client.delete(f"/v1/tokens/{ledger.authenticate(nobody).id}", headers=town.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert c.get("/v1/me", headers={"Authorization": f"Bearer {nobody}"}).status_code == 401
    again = town.client.delete(f"/v1/tokens/{revoked.json()['id']}", headers=town.headers("admin"))
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    listed = {t["id"]: t for t in c.get("/v1/tokens", headers=town.headers("admin")).json()["items"]}
    assert all("secret" not in t for t in listed.values())
    assert listed[revoked.json()["id"]]["active"] is False
