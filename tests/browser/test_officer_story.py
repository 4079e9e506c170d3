"""The day's work at a real browser: an officer takes a declaration from the queue, records its
arrival, a control that finds extra duty, the payment and the release, prints the release note,
and the analyst's release-time dashboard counts one more release."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.browser.conftest import screenshot, serious_violations


def _count(text: str) -> int:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else 0


def _released(page: Any) -> int:
    """Goods released in the dashboard's period (none shown when nothing was released yet)."""
    if page.query_selector("#rt-empty") is not None:
        return 0
    return _count(page.inner_text("#rt-count-arrival_to_release"))


def _submit(page: Any, form: str) -> None:
    """Send a form, accepting its confirmation."""
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_officer_clears_a_declaration_and_the_release_times_count_it(visit: Any, lang: str) -> None:
    analyst = visit(lang)
    analyst.sign_in("demo-analyst")
    today = datetime.now(timezone.utc).date()
    dashboard = f"{analyst.site.url}/dashboards/release-times?since={today - timedelta(days=1000)}&until={today}"  # whenever the goods arrived
    analyst.page.goto(dashboard)
    released_before = _released(analyst.page)

    officer = visit(lang)
    officer.sign_in("demo-officer")
    page = officer.page
    assert page.url.endswith("/queue"), "an officer starts at the queue of its offices"
    page.goto(officer.site.url + "/queue?lane=yellow")
    rows = page.query_selector_all("[data-test=queue-row]")
    waiting = [r.get_attribute("data-id") for status in ("lane_assigned", "arrived") for r in rows if r.get_attribute("data-status") == status]
    assert waiting, "the demo has declarations waiting in the yellow lane (documentary control)"
    screenshot(page, f"story-{lang}-queue")
    for declaration_id in waiting:  # the first whose control is still to record (another run may have taken one)
        with page.expect_navigation():
            page.click(f"[data-test=queue-row][data-id='{declaration_id}'] a")
        if page.query_selector("#record-arrival, #record-control") is not None:
            break
        page.go_back()
    assert page.get_attribute("#lane", "data-lane") == "yellow"
    assert serious_violations(page) == []
    screenshot(page, f"story-{lang}-declaration")

    if page.query_selector("#record-arrival") is not None:  # not arrived yet
        page.fill("#f-arrived_at", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M"))
        _submit(page, "#record-arrival")
        assert page.query_selector("#done[data-test=done-arrival]") is not None

    page.check("#f-fraud_found-yes")
    page.check("#record-control input[name=fraud_kinds]")
    page.fill("#f-extra_duty", "150000")
    page.fill("#f-findings", "Valeur sous-déclarée sur facture" if lang == "fr" else "Invoice value understated")
    _submit(page, "#record-control")
    assert page.query_selector("#done[data-test=done-control]") is not None

    outstanding = page.inner_text("[data-test=amount-outstanding]")
    assert _count(outstanding) > 0, "the extra duty is owed"
    page.fill("#f-amount", re.sub(r"[^\d,.\s\u202f\u00a0]", "", outstanding).strip())
    page.fill("#f-receipt", f"Q-STORY-{lang.upper()}-{datetime.now(timezone.utc):%H%M%S%f}")
    _submit(page, "#record-payment")
    assert page.query_selector("#done[data-test=done-payment]") is not None
    assert page.query_selector("[data-test=blocker]") is None, "nothing blocks the release once paid"

    _submit(page, "#record-release")
    assert page.get_attribute("#status", "data-status") == "released"
    screenshot(page, f"story-{lang}-released")

    page.click("#release-note-link")
    page.wait_for_load_state()
    number = page.inner_text("#release-note-number")
    assert number.startswith("BAE-")
    screenshot(page, f"story-{lang}-release-note")

    page.goto(officer.site.url + "/verify")
    page.fill("#f-number", number)
    with page.expect_navigation():
        page.click("#verify-form button[type=submit]")
    assert page.get_attribute("#verify-result", "data-released") == "yes"

    analyst.page.goto(dashboard)
    assert _released(analyst.page) == released_before + 1
    screenshot(analyst.page, f"story-{lang}-release-times")
    assert officer.outside == [] and analyst.outside == []
