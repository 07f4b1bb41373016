"""Processes that start together on a fresh PostgreSQL database (two `batch resume`, serve
beside `project`) all create the schema: none of them may fail for it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ops.settings import Settings


@pytest.mark.parametrize("store", ["postgres"])
def test_services_built_at_once_on_a_fresh_database(settings: Settings, store: str) -> None:
    from ops.wiring import build_services, close_services

    starters = 6
    barrier = threading.Barrier(starters)
    built: list[Any] = []
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            built.append(build_services(settings))
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not failures, [repr(e) for e in failures]
        assert len(built) == starters
        street = built[0].ledger.create_unit("青禾街道", "street", None)
        assert built[-1].ledger.repository.get(street.id).name == "青禾街道"
    finally:
        for svc in built:
            close_services(svc)
