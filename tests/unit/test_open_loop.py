"""The benches' open-loop client runs its own event loop, so it works from a thread that already
runs one (CI's worker had driven a browser before the bench smoke tests: asyncio.run refused)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ops.bench.scans import open_loop
from ops.pgcluster import free_port


def test_the_open_loop_runs_inside_a_running_event_loop() -> None:
    closed = free_port("127.0.0.1")  # nobody listens: the one request fails, counted as an error

    async def caller() -> dict[str, object]:
        return open_loop(f"http://127.0.0.1:{closed}", "/v1/scans", [("token", b"{}")], rate=10, seconds=0.1)

    # The caller's loop runs in a thread of its own too: this worker's thread may already run one.
    with ThreadPoolExecutor(1) as other:
        result = other.submit(asyncio.run, caller()).result()
    assert result["requests"] == 1 and result["answered"] == 0 and result["errors"] == 1
