"""Rate limits: a bearer token, a source address and a partner posting to the inbox each get so
many requests a minute; past it the node answers 429 problem+json with ``Retry-After``, before it
reads the body or checks the token. The health check and static files are never limited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from avance.bootstrap import Node
from avance.kit.ratelimit import Buckets, retry_after
from tests.support import LiveApi, serve


@contextmanager
def limited(node: Node, **limits: int) -> Iterator[LiveApi]:
    """``node``'s API served with the rate limits given (settings ``rate_limit_*``)."""
    settings = node.settings.model_copy(update={f"rate_limit_{k}": v for k, v in limits.items()})
    yield from serve(Node(settings, node.engine))


def test_a_bucket_lets_a_minutes_worth_through_then_says_how_long_to_wait():
    now = [1000.0]
    buckets = Buckets(3, clock=lambda: now[0])
    assert [buckets.take("broker") for _ in range(3)] == [0, 0, 0]
    wait = buckets.take("broker")
    assert 19.9 < wait <= 20.0  # 3 a minute: one token every 20 s
    assert buckets.take("analyst") == 0  # each key its own bucket
    now[0] += 20.0
    assert buckets.take("broker") == 0 and buckets.take("broker") > 0
    assert retry_after(0.2) == "1" and retry_after(19.01) == "20"


def test_a_bucket_forgets_the_least_recent_callers_beyond_its_size():
    buckets = Buckets(1, max_keys=100, clock=lambda: 0.0)
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets) == 100


def test_a_token_past_its_rate_gets_429_with_retry_after_and_other_tokens_are_served(sqlite_node):
    with limited(sqlite_node, token_per_minute=3) as api:
        with api.client("broker", lang="en") as http:
            assert [http.get("/declarations").status_code for _ in range(3)] == [200, 200, 200]
            refused = http.get("/declarations")
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert 1 <= int(refused.headers["retry-after"]) <= 20
            body = refused.json()
            assert body["code"] == "error.rate_limited" and body["title"] == "Too many requests"
            assert refused.headers["retry-after"] in body["detail"]
            assert refused.headers["x-frame-options"] == "DENY"  # the refusal is an answer like any other
            # refused before the body is read: even a body over the size limit gets 429, not 413
            assert http.post("/declarations", content=b"x" * 10, headers={"content-type": "application/json"}).status_code == 429
        with api.client("officer") as http:
            assert http.get("/declarations").status_code == 200
        with api.client() as http:  # the health check is never limited (probes call it often)
            assert {http.get("/health").status_code for _ in range(10)} == {200}


def test_a_source_address_past_its_rate_is_refused_whatever_token_it_shows(sqlite_node):
    with limited(sqlite_node, address_per_minute=4, token_per_minute=1000) as api:
        codes = []
        for who in ["broker", "officer", "analyst", "admin", "carrier"]:
            with api.client(who) as http:
                codes.append(http.get("/declarations").status_code)
        assert codes == [200, 200, 200, 200, 429]
        with api.client("other_broker", lang="fr") as http:
            refused = http.get("/declarations")
        assert refused.status_code == 429 and refused.json()["title"] == "Trop de requêtes"
        with api.client() as http:
            assert http.get("/static/avance.css").status_code == 200  # static files are never limited


def test_the_exchange_inbox_has_its_own_rate_per_source(sqlite_node):
    with limited(sqlite_node, inbox_per_minute=2) as api:
        with api.client(lang="en") as http:
            answers = [http.post("/exchange/messages", json=[]).status_code for _ in range(3)]
            assert answers[:2] != [429, 429] and answers[2] == 429
            assert "retry-after" in http.post("/exchange/messages", json=[]).headers
        with api.client("broker") as http:  # the API itself is not counted against the inbox
            assert http.get("/declarations").status_code == 200


def test_a_limit_of_zero_is_none_and_the_defaults_leave_room_for_integrators(sqlite_node):
    settings = sqlite_node.settings
    assert (settings.rate_limit_token_per_minute, settings.rate_limit_address_per_minute, settings.rate_limit_inbox_per_minute) == (600, 1200, 300)
    with limited(sqlite_node, token_per_minute=0, address_per_minute=0) as api:
        with api.client("broker") as http:
            assert {http.get("/declarations").status_code for _ in range(30)} == {200}


def test_the_api_document_says_which_operations_may_answer_429(sqlite_node):
    with limited(sqlite_node) as api:
        document = httpx.get(f"{api.url}/openapi.json").json()
    lodge = document["paths"]["/declarations"]["post"]["responses"]["429"]
    assert lodge["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Retry-After" in lodge["headers"]
    assert "429" in document["paths"]["/exchange/messages"]["post"]["responses"]
    assert "429" not in document["paths"]["/health"]["get"]["responses"]


@pytest.mark.parametrize("header", ["Bearer  padded-token", "bearer lower-case"])
def test_a_token_is_counted_by_its_digest_however_the_header_is_written(sqlite_node, header):
    with limited(sqlite_node, token_per_minute=2) as api:
        with api.client() as http:
            codes = [http.get("/declarations", headers={"Authorization": header}).status_code for _ in range(3)]
    assert codes[:2] == [401, 401] and codes[2] == 429  # an unknown token is limited too, before it is checked
