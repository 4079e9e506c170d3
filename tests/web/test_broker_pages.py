"""The declarant's (broker's) pages over real HTTP: its own declarations with their status, what
is due and what blocks release; never the score, the criteria, the officers' names or their
free-text findings."""

from __future__ import annotations

from tests.support import declaration
from tests.web.test_officer_pages import lodge, post_form, site  # noqa: F401  (the fixture)

FINDINGS = "Scellé cassé, carton manquant"


def test_a_declarant_sees_its_own_declarations_what_is_due_and_what_blocks_release_but_no_risk_or_officer(site):  # noqa: F811
    mine = lodge(site, declaration(lrn="B-1", transport_document_reference="BL-B-1"))
    theirs = lodge(site, declaration(lrn="B-2", declarant="SN0077777D3", transport_document_reference="BL-B-2"), who="other_broker")
    page = f"/declarations/{mine['id']}"
    with site.browser("officer") as officer:
        assert post_form(officer, page, f"{page}/record-arrival", {}).status_code == 303
        control = {"fraud_found": "true", "fraud_kinds": "quantity", "extra_duty": "50000", "findings": FINDINGS}
        assert post_form(officer, page, f"{page}/record-control", control).status_code == 303
    with site.browser("broker") as broker:
        listing = broker.get("/my/declarations")
        assert listing.status_code == 200
        assert f'data-id="{mine["id"]}"' in listing.text and f'data-id="{theirs["id"]}"' not in listing.text
        assert "restent à payer" in listing.text  # what blocks release: the duties still due
        shown = broker.get(f"/my/declarations/{mine['id']}")
        assert shown.status_code == 200
        text = shown.text
        assert "Reste à payer" in text and "fausse quantité" in text
        assert FINDINGS not in text and "Score" not in text and "Pourquoi ce circuit" not in text
        assert ">officer<" not in text and "mirror" not in text
        assert broker.get(page).status_code == 303  # the staff page sends a declarant to its own view
        assert broker.get(f"/my/declarations/{theirs['id']}").status_code == 404
        assert broker.get(f"{page}/control-report").status_code == 403
        assert broker.get(f"{page}/release-note").status_code == 409  # not released yet
    with site.browser("officer") as officer:
        assert officer.get("/my/declarations").status_code == 403
