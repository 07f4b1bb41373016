"""Large text and high contrast are one tap away on every page (display.js): the switch sits beside
the language switch, turns both on, survives a reload (kept on this device), and turns off again."""

from __future__ import annotations

from typing import Any

import pytest

from browser_helpers import screenshot

PAGES = ["index", "volunteer", "pay", "till", "activity-screen", "leaderboard", "console", "signin"]


@pytest.mark.parametrize("name", PAGES)
def test_display_switch_on_every_page(live_server: Any, page: Any, name: str) -> None:
    page.goto(f"{live_server.url}/pages/{name}")
    page.evaluate("localStorage.removeItem('mb.display'); localStorage.setItem('mb.lang', 'zh')")
    page.reload()
    switch = page.locator("[data-display-switch]")
    switch.wait_for(state="visible")
    assert switch.get_attribute("aria-pressed") == "false" and switch.inner_text() == "大字"
    assert page.evaluate("document.documentElement.classList.contains('mb-large')") is False
    normal = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")

    switch.click()
    assert page.evaluate("['mb-large', 'mb-contrast'].every((c) => document.documentElement.classList.contains(c))")
    assert switch.get_attribute("aria-pressed") == "true" and switch.inner_text() == "标准"
    page.reload()
    page.locator("[data-display-switch][aria-pressed='true']").wait_for(state="visible")
    assert page.evaluate("document.documentElement.classList.contains('mb-contrast')")
    assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") > normal
    screenshot(page, f"display-large-{name}")

    page.locator("[data-display-switch]").click()
    assert page.evaluate("document.documentElement.classList.contains('mb-large')") is False
    page.reload()
    page.locator("[data-display-switch][aria-pressed='false']").wait_for(state="visible")
