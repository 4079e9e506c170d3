"""Files analysts keep are other representations of their resource: the profiles as the YAML file
they edit, the value-control file as the CSV they open in a spreadsheet. One rule picks the form:
``?format=`` in a link, else the ``Accept`` header; nothing that fits is a 406 problem."""

from __future__ import annotations

import pytest
import yaml
from starlette.requests import Request

from avance.kit.http import CSV, JSON, NotAcceptable, representation
from avance.risk.valuation.overrides_file import parse_overrides_csv

PROBLEM = "application/problem+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def asking(accept: str | None = None, query: str = "") -> Request:
    headers = [(b"accept", accept.encode())] if accept is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": headers})


@pytest.mark.parametrize(
    ("accept", "query", "chosen"),
    [
        (None, "", JSON),  # no preference: the first offered
        ("*/*", "", JSON),
        (BROWSER, "", JSON),  # a browser following a link, without format=
        ("", "", JSON),
        ("garbage", "", JSON),  # an unreadable header is disregarded
        ("text/csv", "", CSV),
        ("text/*", "", CSV),
        ("text/csv; charset=utf-8", "", CSV),
        ("text/csv;q=0.5, application/json", "", JSON),
        ("application/json;q=0.2, text/csv;q=0.9", "", CSV),
        ("application/json", "format=csv", CSV),  # a link's format= wins over the header
        (BROWSER, "format=CSV", CSV),
        ("text/csv", "format=json", JSON),
    ],
)
def test_the_representation_follows_format_then_accept(accept, query, chosen):
    assert representation(asking(accept, query), (JSON, CSV)) == chosen


@pytest.mark.parametrize(("accept", "query"), [("application/xml", ""), ("application/json;q=0, text/csv;q=0", ""), (None, "format=xlsx"), ("text/csv", "format=yaml")])
def test_nothing_that_fits_is_not_acceptable_and_says_what_is_offered(accept, query):
    with pytest.raises(NotAcceptable) as refused:
        representation(asking(accept, query), (JSON, CSV))
    assert refused.value.status == 406
    assert "csv (text/csv)" in refused.value.message("en") and "json (application/json)" in refused.value.message("fr")


def test_profiles_are_json_or_the_yaml_file_analysts_keep(api):
    with api.client("analyst", lang="fr") as analyst:
        as_json = analyst.get("/risk/profiles")
        as_yaml = analyst.get("/risk/profiles", headers={"Accept": "text/yaml"})
        linked = analyst.get("/risk/profiles", params={"format": "yaml"}, headers={"Accept": "application/json"})
        exported = analyst.get("/risk/profiles/export")
        as_csv = analyst.get("/risk/profiles", headers={"Accept": "text/csv"})
        unknown = analyst.get("/risk/profiles", params={"format": "csv"})
        export_as_json = analyst.get("/risk/profiles/export", headers={"Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json") and "Accept" in as_json.headers["vary"]
    assert as_yaml.headers["content-type"].startswith("text/yaml") and "Accept" in as_yaml.headers["vary"]
    assert linked.headers["content-type"].startswith("text/yaml")
    document = yaml.safe_load(as_yaml.text)
    assert [rule["id"] for rule in document["rules"]] == [item["id"] for item in as_json.json()["items"]]
    assert as_yaml.text.split("\n", 2)[2] == linked.text.split("\n", 2)[2] == exported.text.split("\n", 2)[2]  # past the dated header
    for refused in (as_csv, unknown, export_as_json):
        assert refused.status_code == 406 and refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["code"] == "http.not_acceptable" and refused.headers["content-language"] == "fr"
    assert "yaml (text/yaml)" in as_csv.json()["detail"] and "json" in as_csv.json()["detail"]
    with api.client("broker") as broker:
        refused = broker.get("/risk/profiles", params={"format": "yaml"})
    assert refused.status_code == 403 and "rules" not in refused.text  # the role is checked before anything is shown


def test_the_value_control_file_is_json_or_csv_with_the_same_filters(api):
    lines = "hs,origin,unit,min,max,valid_from,valid_to,note\n870323,JP,KGM,4000,,2026-01-01,,étude\n100630,TH,KGM,250,600,,,riz\n"
    with api.client("analyst", lang="en") as analyst:
        assert analyst.post("/risk/valuation/overrides/import", content=lines.encode(), headers={"Content-Type": "text/csv"}).status_code == 200
        cars = analyst.get("/risk/valuation/overrides", params={"format": "csv", "hs": "870323"})
        everything = analyst.get("/risk/valuation/overrides", headers={"Accept": "text/csv"})
        as_json = analyst.get("/risk/valuation/overrides", headers={"Accept": "application/json"})
        as_yaml = analyst.get("/risk/valuation/overrides", headers={"Accept": "text/yaml"})
    assert cars.headers["content-type"] == "text/csv; charset=utf-8" and "attachment" in cars.headers["content-disposition"]
    assert [(o.hs_prefix, o.origin) for o in parse_overrides_csv(cars.text)] == [("870323", "JP")]
    assert sorted(o.hs_prefix for o in parse_overrides_csv(everything.text)) == ["100630", "870323"]
    assert as_json.json()["total"] == 2
    assert as_yaml.status_code == 406 and "csv (text/csv)" in as_yaml.json()["detail"]
