"""Every message a user can see exists in French and in English."""

from __future__ import annotations

import re

from avance.kit.i18n import catalog, negotiate, t
from tests.support import ROOT


def test_both_catalogs_have_the_same_keys_and_placeholders():
    fr, en = catalog("fr"), catalog("en")
    assert set(fr) == set(en)
    for key in fr:
        assert set(re.findall(r"{(\w+)}", fr[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_every_message_key_used_in_the_code_is_in_the_catalogs():

    source = ROOT / "src" / "avance"
    used = set()
    for path in source.rglob("*.py"):
        text = path.read_text()
        used |= {f"cli.help.{key}" for key in re.findall(r'\bH\("([a-z_.]+)"\)', text)}
        text = re.sub(r'\bH\("[a-z_.]+"\)', "", text)
        used |= set(re.findall(r'"((?:error|conflict|release|config|office|procedure|currency|country|items|container|hs|mass|invoice|valuation|packages|arrival|manifest|bill|locode|lrn|inspection|user|reason|rates|cli|import|demo|not_found|forbidden|unauthorized|policy|model|profiles|evaluation|exchange|partners|movements|matching|transit|exchange_demo)\.[a-z_]+(?:\.[a-z_]+)*)"', text))
    used -= {"demo.db", "rates.csv", "model.json", "policy.yaml", "profiles.yaml", "error.html", "manifest.json"}  # file names, not message keys
    used -= {"exchange.node_id"}  # a node setting's key
    assert used, "the scan found the message keys"
    assert used <= set(catalog("en")), used - set(catalog("en"))


def test_language_negotiation_prefers_the_callers_choice_and_defaults_to_french():
    assert negotiate(None) == "fr"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("de, en;q=0.5, fr;q=0.8") == "fr"
    assert negotiate("de") == "fr"
    assert t("lane.red", "en") == "red" and t("lane.red", "fr") == "rouge"
