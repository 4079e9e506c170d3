"""Every word a page shows comes from the catalogs: no template writes text of its own, and no
template shows a user-facing attribute (a label, a title, a placeholder) that is not a message."""

from __future__ import annotations

import re

from tests.support import ROOT

TEMPLATES = ROOT / "src" / "avance" / "web" / "templates"
ALLOWED = {"Avance", "UTC", "CSV", "SVG", "HS", "ID", "XOF", "EUR", "USD", "GNF", "NGN", "GHS", "XAF"}
"""Names and codes that read the same in every language."""
WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")
SHOWN_ATTRIBUTES = re.compile(r'\b(?:title|placeholder|alt|aria-label|aria-description|data-confirm)="([^"]*)"')
ATTRIBUTE = re.compile(r'[\w:-]+="[^"]*"')


def _text_outside_jinja(source: str) -> str:
    source = re.sub(r"{#.*?#}", " ", source, flags=re.S)
    source = re.sub(r"{%.*?%}", " ", source, flags=re.S)
    return re.sub(r"{{.*?}}", " ", source, flags=re.S)


def _shown_text(source: str) -> tuple[list[str], list[str]]:
    """(words between tags, words in shown attributes) written literally in a template."""
    plain = _text_outside_jinja(source)
    attribute_words = [w for value in SHOWN_ATTRIBUTES.findall(plain) for w in WORD.findall(value)]
    without_tags = re.sub(r"<!--.*?-->", " ", plain, flags=re.S)
    without_tags = ATTRIBUTE.sub(" ", without_tags)  # attributes, inside a tag or in a macro that writes some
    without_tags = re.sub(r"<(script|style)\b.*?</\1>", " ", without_tags, flags=re.S | re.I)
    without_tags = re.sub(r"<[^>]*>", " ", without_tags, flags=re.S)
    without_tags = re.sub(r"&[a-z]+;|&#\d+;", " ", without_tags)
    return WORD.findall(without_tags), attribute_words


def test_no_template_writes_words_of_its_own() -> None:
    found = {}
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) >= 10, "the scan found the templates"
    for path in templates:
        text_words, attribute_words = _shown_text(path.read_text(encoding="utf-8"))
        literal = sorted({w for w in text_words + attribute_words if w not in ALLOWED})
        if literal:
            found[str(path.relative_to(TEMPLATES))] = literal
    assert found == {}, f"words written in templates instead of the catalogs: {found}"


def test_the_check_catches_a_word_written_in_a_template() -> None:
    words, attributes = _shown_text('<p>{{ _("web.app") }} Release note</p><input placeholder="Search">')
    assert words == ["Release", "note"] and attributes == ["Search"]
    assert _shown_text('<p title="{{ _("x") }}">{% if a %}{{ b }}{% endif %}</p>') == ([], [])


def test_templates_hold_no_inline_script_or_style() -> None:
    offending = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        source = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source) or re.search(r"<style\b", source) or re.search(r"\sstyle=", source) or re.search(r"\son[a-z]+=", source):
            offending.append(str(path.relative_to(TEMPLATES)))
    assert offending == [], f"inline script, style or event handler in: {offending}"


