"""The interactive API documentation keeps working under its own content security policy: its
inline start-up script is allowed by its hash, nothing else inline runs."""

from __future__ import annotations

from typing import Any


def test_swagger_ui_still_works_in_a_browser_under_its_policy(browser: Any, site: Any) -> None:
    violations: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{site.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)  # the operations, drawn by the inline start-up script
        assert page.locator(".opblock").count() > 40
    finally:
        context.close()
    assert violations == []
