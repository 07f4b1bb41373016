"""Each request leaves one JSON log line with a request id, and never the token."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
BOOTSTRAP = "mb_test_bootstrap_admin_token"  # tests/conftest.py


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_request_lines(services: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(services))
    with caplog.at_level(logging.INFO, logger="moralbank.requests"):
        ok = client.get("/v1/tokens", headers={"Authorization": f"Bearer {BOOTSTRAP}", "X-Request-ID": "abc-123"})
        refused = client.get("/v1/tokens", headers={"Authorization": "Bearer nope"})
        odd = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert ok.headers["x-request-id"] == "abc-123"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "moralbank.requests"]
    assert [(line["route"], line["status"]) for line in lines] == [("/v1/tokens", 200), ("/v1/tokens", 401), ("/healthz", 200)]
    assert lines[0]["request_id"] == "abc-123"
    assert lines[2]["request_id"] == odd.headers["x-request-id"] != "bad id with spaces"
    assert refused.headers["x-request-id"] == lines[1]["request_id"]
    assert BOOTSTRAP not in caplog.text and "nope" not in caplog.text
