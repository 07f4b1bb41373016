"""A live server (uvicorn in a thread, projections in-process) and headless Chromium.

The system Chromium is used (``apt-get install chromium``), never a downloaded browser.
Screenshots go to ``artifacts/screenshots`` as test artifacts.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving import free_port


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class LiveServer:
    def __init__(self, services: Any) -> None:
        import uvicorn

        from api.app import create_app
        from ops.wiring import ProjectionThreads

        self.services = services
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.projections = ProjectionThreads(services.followers, poll=0.02)
        config = uvicorn.Config(create_app(services), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.projections.start()
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.projections.stop()


@pytest.fixture
def live_server(services: Any) -> Iterator[LiveServer]:
    server = LiveServer(services).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required when CI is set (apt-get install chromium)")
        pytest.skip("no system Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()
