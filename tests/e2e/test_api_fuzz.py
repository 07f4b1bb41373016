"""Whatever JSON arrives, the answer is never a 500, and only a 2xx writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
uuids = st.uuids().map(str)
FIELDS = ["name", "kind", "parent_id", "unit_ids", "unit_id", "volunteer_id", "points", "minutes", "memo", "phone_last4", "member_no"]
# Bodies with the fields routes expect, holding anything (and sometimes something plausible).
bodies = values | st.dictionaries(st.sampled_from(FIELDS), values | uuids | st.sampled_from(["street", "community", ""]), max_size=6)

ROUTES = ["/v1/units", "/v1/organizers", "/v1/volunteers", "/v1/credits"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies, role=st.sampled_from(["admin", "org_in", "vol_own"]))
def test_no_json_body_gives_a_500(world: Any, route: str, body: Any, role: str) -> None:
    before = world.head()
    content = json.dumps(body).encode()  # NaN and Infinity included, as Python's json reads them
    response = world.client.post(route, content=content, headers={**world.headers(role), "content-type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert world.head() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/v1/volunteers/{}", "/v1/units/{}", "/v1/transactions/{}", "/v1/me/entries?cursor={}", "/v1/events?after={}"]),
    part=st.text(st.characters(codec="utf-8", exclude_characters="/?#"), max_size=40),
)
def test_no_path_or_query_gives_a_500(world: Any, path: str, part: str) -> None:
    from urllib.parse import quote

    role = "vol_own" if "/me/" in path else "admin"
    response = world.client.get(path.format(quote(part, safe="")), headers=world.headers(role))
    assert response.status_code < 500, response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.binary(max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_no_token_gives_a_500(world: Any, secret: bytes) -> None:
    response = world.client.get("/v1/tokens", headers={"Authorization": b"Bearer " + secret})
    assert response.status_code == 401
