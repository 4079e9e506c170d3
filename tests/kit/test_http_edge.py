"""What a broker's system gets back from the edge of the API when its request is wrong."""

from __future__ import annotations

import json

import pytest

from avance.kit.http import MAX_BODY
from tests.support import declaration, serve


@pytest.fixture
def live(sqlite_node):
    yield from serve(sqlite_node)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_rejected_document_has_a_readable_title_in_the_callers_language(live, lang):
    doc = declaration()
    del doc["importer"]
    with live.client("broker", lang=lang) as broker:
        response = broker.post("/declarations", json=doc)
    assert response.status_code == 422
    problem = response.json()
    assert "{" not in problem["title"] and "}" not in problem["title"], problem["title"]
    assert "{" not in problem["detail"], problem["detail"]
    assert response.headers["content-language"] == lang


def test_a_goods_item_without_net_mass_is_refused_since_value_per_kilogram_is_a_risk_input(live):
    doc = declaration()
    doc["goods_items"][0]["net_mass"] = "0"
    with live.client("broker") as broker:
        response = broker.post("/declarations", json=doc)
    assert response.status_code == 422, response.text
    assert [e["pointer"] for e in response.json()["errors"]] == ["/goods_items/0/net_mass"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/pdf", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_told_its_media_type_is_unsupported(live, content_type):
    with live.client("broker", lang="en") as broker:
        response = broker.post("/declarations", content=json.dumps(declaration()), headers={"Content-Type": content_type})
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "error.unsupported_media_type"
    assert "application/json" in problem["detail"]


def test_json_with_a_charset_or_a_json_suffix_is_still_accepted(live):
    with live.client("broker") as broker:
        response = broker.post("/declarations", content=json.dumps(declaration()), headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


def _chunks(total: int, size: int = 1024 * 1024):
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/declarations", "/exchange/messages"])
def test_a_body_over_the_limit_is_refused_even_when_sent_in_chunks_without_a_length(live, path):
    """An anonymous caller streams a body with no Content-Length: the node stops reading at the
    limit and answers 413, instead of reading it all (memory, time) before refusing it."""
    with live.client("broker", lang="en") as client:
        response = client.post(path, content=_chunks(MAX_BODY + 2 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:200]
    assert response.json()["code"] == "error.payload_too_large"


def test_a_declared_length_over_the_limit_is_refused_before_reading(live):
    with live.client("broker", lang="en") as client:
        response = client.post("/declarations", content=b" " * (MAX_BODY + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
