"""The home page loads, in Chinese first, and switches to English."""

from __future__ import annotations

from typing import Any

from browser_helpers import screenshot


def test_home_page_switches_language(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "欢迎来到道德银行"
    page.click("[data-lang-switch]")
    assert page.locator("h1").inner_text() == "Welcome to the Moral Bank"
    page.reload()  # the choice is remembered
    assert page.locator("h1").inner_text() == "Welcome to the Moral Bank"
    assert screenshot(page, "home-en").stat().st_size > 10_000
