"""Headers on every answer: a content security policy (nothing inline, nothing from elsewhere; the
API documentation allows only its own inline script, by hash), no framing, no type sniffing, no
referrer to other sites; and no cross-origin access from a browser unless the node lists the
origin."""

from __future__ import annotations

import base64
import hashlib
import re
from contextlib import contextmanager

import pytest

from avance.bootstrap import Node
from avance.kit.http import PAGE_POLICY, inline_script_hashes
from tests.support import serve as _serve

serve = contextmanager(_serve)


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def scripts_of(html: str) -> list[str]:
    return re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)


def test_every_answer_forbids_framing_sniffing_and_inline_code(sqlite_node):
    with serve(sqlite_node) as api, api.client("broker") as http:
        for response in (http.get("/declarations"), http.get("/nowhere"), http.get("/health"), http.get("/static/avance.css")):
            assert response.headers["content-security-policy"] == PAGE_POLICY
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
            assert "strict-transport-security" not in response.headers  # plain HTTP: HSTS only over TLS
    policy = directives(PAGE_POLICY)
    assert policy["script-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_api_documentation_may_run_only_its_own_inline_scripts(sqlite_node, page):
    with serve(sqlite_node) as api, api.client() as http:
        response = http.get(page, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    policy = directives(response.headers["content-security-policy"])
    served = scripts_of(response.text)
    expected = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in served]
    assert policy["script-src"] == ["'self'", *expected]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"] and response.headers["x-frame-options"] == "DENY"
    if page == "/docs":
        assert len(served) == 1 and "SwaggerUIBundle" in served[0]


def test_an_inline_script_is_hashed_exactly_as_served():
    html = b'<script src="/a.js"></script><SCRIPT type="module">run()</SCRIPT><script>\n x = 1\n</script>'
    assert inline_script_hashes(html) == [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in (b"run()", b"\n x = 1\n")
    ]


PREFLIGHT = {"Origin": "https://portal.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}


def test_no_cross_origin_access_unless_configured(sqlite_node):
    with serve(sqlite_node) as api, api.client("broker") as http:
        assert "access-control-allow-origin" not in http.options("/declarations", headers=PREFLIGHT).headers
        assert "access-control-allow-origin" not in http.get("/declarations", headers={"Origin": "https://portal.example"}).headers


def test_an_origin_the_node_lists_may_call_the_api_from_a_browser_and_no_other(sqlite_node):
    settings = sqlite_node.settings.model_copy(update={"cors_origins": ["https://portal.example"]})
    with serve(Node(settings, sqlite_node.engine)) as api, api.client("broker") as http:
        allowed = http.options("/declarations", headers=PREFLIGHT)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://portal.example"
        answer = http.get("/declarations", headers={"Origin": "https://portal.example"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "https://portal.example"
        other = http.options("/declarations", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        assert "access-control-allow-origin" not in http.get("/declarations", headers={"Origin": "https://evil.example"}).headers


def test_cors_origins_are_read_from_the_environment_comma_separated(monkeypatch):
    from avance.kit.settings import Settings

    monkeypatch.setenv("AVANCE_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
