"""The OpenAPI document tells the truth, so that a ministry's IT team can generate a client from
it and try the API from /docs: the bearer scheme is declared and every protected operation
references it (the Authorize button then works), every error is documented as the problem+json
the node really sends, and every successful answer has a schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.support import LiveApi, declaration, serve_fresh

PUBLIC = {("post", "/exchange/messages"), ("get", "/exchange/identity"), ("get", "/health")}
"""Reached without a token: partners post signed messages and read the node's keys; monitoring."""

OWN_ERROR_BODIES = {("get", "/health", "503"): "the health check answers 503 with its own body (status: degraded), not a problem"}
"""Error answers that are not problem+json, with the reason."""

FREE_FORM: dict[tuple[str, str, str], str] = {}
"""2xx answers allowed to be an untyped object, with the reason: none so far."""

CONFLICTS = {
    ("post", "/declarations/{declaration_id}/arrival"),
    ("post", "/declarations/{declaration_id}/release"),
    ("post", "/transits"),
    ("post", "/transits/{mrn}/passage"),
    ("put", "/risk/profiles/{profile_id}"),
    ("post", "/matching/export-notices"),
}
"""Some operations where the state of a resource can refuse a valid request (409)."""

PROBLEM = "application/problem+json"
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    yield from serve_fresh(tmp_path_factory, "openapi")


@pytest.fixture(scope="module")
def openapi(live: LiveApi) -> dict[str, Any]:
    with live.client() as anonymous:
        answer = anonymous.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_bearer_scheme_is_declared_and_every_protected_operation_references_it(openapi):
    schemes = openapi["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    seen = set()
    for method, path, operation in operations(openapi):
        seen.add((method, path))
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
        else:
            assert operation.get("security") == [{name: []}], (method, path)
    assert PUBLIC <= seen and len(seen) > 40


MESSAGE_LODGING = {"/declarations", "/manifests", "/matching/export-notices"}
"""The lodging routes that take the region's message formats (docs/formats/README.md)."""


def test_every_operation_documents_its_errors_as_problem_json(openapi):
    problem = openapi["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "instance", "code", "errors"}
    assert "HTTPValidationError" not in openapi["components"]["schemas"], "FastAPI's 422 body, which the node never sends"
    for method, path, operation in operations(openapi):
        responses = operation["responses"]
        errors = {status for status in responses if int(status) >= 400}
        assert "503" in errors, (method, path)
        if (method, path) not in PUBLIC:
            assert {"401", "403"} <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, (method, path)
        if (method, path) in CONFLICTS:
            assert "409" in errors, (method, path)
        for status in errors:
            if (method, path, status) in OWN_ERROR_BODIES:
                continue
            assert responses[status]["description"], (method, path, status)
            content = dict(responses[status]["content"])
            if status in ("409", "422") and method == "post" and path in MESSAGE_LODGING:  # a rejection in the request's format, when Accept asks
                rejections = [content.pop(media) for media in ("application/xml", "application/edifact") if media in content]
                assert rejections and all(r == {"schema": {"type": "string"}} for r in rejections), (method, path)
            assert content == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)


def test_every_successful_answer_has_a_schema(openapi):
    for method, path, operation in operations(openapi):
        successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            if status == "204":
                assert "content" not in response, (method, path)
                continue
            assert response.get("content"), (method, path, status)
            for media_type, content in response["content"].items():
                schema = resolve(openapi, content.get("schema") or {})
                if (method, path, status) in FREE_FORM:
                    continue
                if media_type == "text/yaml":  # a YAML document: clients parse it (to any value), as Schemathesis does
                    assert schema == {}, (method, path, media_type)
                elif media_type != "application/json":
                    assert schema == {"type": "string"}, (method, path, media_type)  # a file of text: CSV
                elif schema.get("type") == "array":
                    assert resolve(openapi, schema["items"]).get("properties"), (method, path, status)
                else:
                    assert schema.get("type") == "object" and schema.get("properties"), (method, path, status)


def test_the_errors_the_node_sends_are_what_the_document_says(live, openapi):
    """A 401, a 403, a 404 and a 422 as they come, checked against the documented Problem schema."""
    problem = {"$ref": "#/components/schemas/Problem", "components": openapi["components"]}
    with live.client() as anonymous, live.client("broker", lang="en") as broker, live.client("officer", lang="fr") as officer:
        answers = [
            anonymous.get("/declarations"),
            broker.get("/risk/profiles"),
            officer.get("/declarations/2147483647"),
            officer.get("/declarations", params={"page": 0, "lane": "purple"}),
            broker.post("/declarations", json={"lrn": ""}),
        ]
    assert [a.status_code for a in answers] == [401, 403, 404, 422, 422]
    for answer in answers:
        assert answer.headers["content-type"].startswith(PROBLEM)
        jsonschema.validate(answer.json(), problem)
    assert {e["parameter"] for e in answers[3].json()["errors"]} == {"page", "lane"}
    assert {"pointer", "code", "detail"} <= set(answers[4].json()["errors"][0])


def test_the_documented_answer_of_a_route_is_what_it_sends(live, openapi):
    """The detail of a declaration, as a declarant and as an officer see it, fits its schema."""
    with live.client("broker") as broker:
        lodged = broker.post("/declarations", json=declaration(lrn="OPENAPI-1"))
        mine = broker.get(lodged.json()["location"]).json()
    with live.client("officer") as officer:
        seen = officer.get(lodged.json()["location"]).json()
    operation = openapi["paths"]["/declarations/{declaration_id}"]["get"]
    schema = {**operation["responses"]["200"]["content"]["application/json"]["schema"], "components": openapi["components"]}
    for body in (mine, seen):
        jsonschema.validate(body, schema)
    assert "score" not in mine and "reasons" not in mine and seen["reasons"] is not None
    assert "mirror_control" in seen, "an officer sees the sections other capabilities add"
