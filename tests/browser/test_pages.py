"""Every demo user signs in at a real browser, in French and in English, and every page the menu
offers them opens: light enough for a slow link, nothing fetched from outside the node, no
serious accessibility problem."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import screenshot, serious_violations

USERS = ["demo-officer", "demo-officer-2", "demo-analyst", "demo-admin", "demo-declarant"]
ENGLISH = frozenset(
    "the and of with without from this that these is are was were not yes no none all any show shows "
    "green yellow red blue lodged arrived released rejected inspected paid pending open closed "
    "arrival payment release control declaration declarations officer analyst declarant system "
    "amount outstanding profile profiles lane lanes "
    "week weeks day days month hours median share previous next search filter apply download "
    "sign out back home report reports model policy partner partners queue".split()
)
"""Words that, on a French page, can only be English left untranslated."""
FIRST_VISIT_LIMIT = 300 * 1024
LATER_PAGE_LIMIT = 100 * 1024


def _untranslated(page: Any, lang: str, name: str) -> list[str]:
    """English words in a French page's visible text (the page's data aside, which the demo
    writes in French)."""
    if lang != "fr":
        return []
    text = page.inner_text("body").replace(name, " ")  # the user's own name is data
    words = {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ]+", text)}
    return sorted(words & ENGLISH)


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("name", USERS)
def test_each_user_signs_in_and_opens_every_page_of_their_menu(visit: Any, name: str, lang: str) -> None:
    v = visit(lang)
    page = v.page
    v.sign_in(name)
    assert page.url.rstrip("/") != v.site.url + "/signin", f"{name} was not signed in"
    assert page.get_attribute("html", "lang") == lang
    first_visit = v.weigh()
    assert first_visit < FIRST_VISIT_LIMIT, f"sign-in page and first home page weigh {first_visit} bytes"
    screenshot(page, f"{name}-{lang}-home")
    assert serious_violations(page) == []
    assert _untranslated(page, lang, name) == [], "home page"

    links = [a.get_attribute("href") for a in page.query_selector_all("header nav a")]
    assert links, f"{name} has no menu"
    for href in links:
        page.goto(v.site.url + href)
        weight = v.weigh()
        assert weight < LATER_PAGE_LIMIT, f"{href} weighs {weight} bytes"
        assert page.get_attribute("html", "lang") == lang
        assert page.query_selector("h1") is not None, f"{href} has no heading"
        screenshot(page, f"{name}-{lang}{href.replace('/', '-')}")
        assert serious_violations(page) == [], href
        assert _untranslated(page, lang, name) == [], href
    assert v.outside == [], f"requests left the node: {v.outside}"


def test_the_language_switch_turns_the_pages_to_english_and_back(visit: Any) -> None:
    v = visit("fr")
    v.sign_in("demo-officer")
    page = v.page
    assert page.get_attribute("html", "lang") == "fr"
    page.click("header .tools a[hreflang=en]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    page.goto(v.site.url + "/account")
    assert page.get_attribute("html", "lang") == "en", "the choice is kept from page to page"
    page.click("header .tools a[hreflang=fr]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "fr"


def test_a_wrong_password_is_refused_in_the_users_language(visit: Any) -> None:
    v = visit("fr")
    page = v.page
    page.goto(v.site.url + "/")
    page.fill("#username", "demo-officer")
    page.fill("#password", "not-the-password")
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state()
    assert "incorrect" in page.inner_text("[role=alert]")
    assert page.input_value("#username") == "demo-officer", "the name typed is kept"
