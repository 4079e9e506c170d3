"""Whatever a broker's system sends, the API answers with a clear problem, never a 500, and a
rejected document leaves nothing behind in the store."""

from __future__ import annotations


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.manifests.tables import bills_of_lading, manifests

from avance.declarations.tables import declaration_events, declarations, goods_items
from tests.support import JSON_VALUES as json_values
from tests.support import declaration, manifest
from tests.support import mutated_document as mutated

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _counts(node) -> tuple[int, ...]:
    with node.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (declarations, goods_items, declaration_events, manifests, bills_of_lading)
        )


def _check(response, before, after) -> None:
    assert response.status_code != 500, response.text
    assert response.status_code in (200, 201, 403, 422), response.text
    if response.status_code == 201:
        assert after[0] == before[0] + 1
    elif response.status_code == 200:  # the same document again: the first lodging is returned
        assert after == before
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"]
        assert "Traceback" not in response.text
        assert after == before, "a rejected declaration left rows behind"


@PROPERTY_SETTINGS
@given(body=json_values)
def test_arbitrary_json_never_produces_a_server_error(shared_api, body):
    before = _counts(shared_api.node)
    with shared_api.client("admin", lang="en") as client:
        response = client.post("/declarations", json=body)
    _check(response, before, _counts(shared_api.node))


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_never_produce_a_server_error(shared_api, body):
    before = _counts(shared_api.node)
    with shared_api.client("admin", lang="fr") as client:
        response = client.post("/declarations", content=body, headers={"content-type": "application/json"})
    _check(response, before, _counts(shared_api.node))


@PROPERTY_SETTINGS
@given(data=st.data(), lrn=st.uuids())
def test_a_damaged_declaration_is_rejected_whole_with_every_error_located(shared_api, data, lrn):
    body = data.draw(mutated(declaration(lrn=f"P-{lrn.hex[:20]}")))
    before = _counts(shared_api.node)
    with shared_api.client("admin", lang="fr") as client:
        response = client.post("/declarations", json=body)
    _check(response, before, _counts(shared_api.node))
    if response.status_code == 422:
        errors = response.json()["errors"]
        assert errors, "a rejection says why"
        for error in errors:
            assert error["detail"] and error["code"]
            assert "pointer" in error or "parameter" in error


@PROPERTY_SETTINGS
@given(data=st.data(), ref=st.uuids())
def test_a_damaged_cargo_report_is_rejected_whole(shared_api, data, ref):
    body = data.draw(mutated(manifest(reference=f"MAN-{ref.hex[:20]}", carrier="SN0055555C1")))
    before = _counts(shared_api.node)
    with shared_api.client("admin", lang="en") as client:
        response = client.post("/manifests", json=body)
    assert response.status_code in (200, 201, 422), response.text
    after = _counts(shared_api.node)
    if response.status_code in (200, 422):
        assert after == before
    elif response.json()["version"] == 1:
        assert after[3] == before[3] + 1
    else:  # the same reference drawn again with other content: an amendment, a new version of that report
        assert after[3] == before[3]


def test_a_nul_character_is_refused_where_the_database_cannot_keep_it(shared_api):
    """PostgreSQL cannot store U+0000 in text: the lodging is refused whole with a 422 problem;
    SQLite keeps any character, so there the cargo report is stored as sent."""
    body = manifest(reference="MAN-NUL-0001", carrier="SN0055555C1")
    body["bills_of_lading"][0]["containers"][0]["seals"] = ["SN\u0000123"]
    before = _counts(shared_api.node)
    with shared_api.client("admin", lang="en") as client:
        response = client.post("/manifests", json=body)
    after = _counts(shared_api.node)
    if shared_api.node.engine.dialect.name == "postgresql":
        assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["code"] == "error.unstorable_text"
        assert after == before
    else:
        assert response.status_code == 201 and after[3] == before[3] + 1
