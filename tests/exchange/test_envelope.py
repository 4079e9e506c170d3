"""A message between two customs administrations is signed so that any change, by anyone, shows."""

from __future__ import annotations

import base64
import copy
import json
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from avance.exchange import envelope as env
from avance.exchange.keys import parse_public_key, thumbprint
from avance.kit.errors import ValidationFailed
from tests.support import ROOT

# RFC 8037 appendix A: the Ed25519 test key, its JWK thumbprint and a JWS it signed.
RFC_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(env.b64u_decode(RFC_D))


def message(**overrides):
    base = env.build(
        sender="CI-AVANCE",
        recipient="GH-AVANCE",
        type="reference-data-update",
        payload={"dataset": "offices", "action": "upsert", "records": [{"code": "CI-NOE-ROAD", "name": "Noé (frontière Ghana)", "country": "CI", "kind": "road"}]},
        movement="reference-data:offices",
        sequence=1,
    )
    base.update(overrides)
    return base


def test_key_ids_are_the_rfc_7638_thumbprint_so_a_partner_can_compute_them_from_the_public_key():
    public = rfc_key().public_key().public_bytes_raw()
    assert env.b64u(public) == RFC_X
    assert thumbprint(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 A.3


def test_signatures_are_plain_rfc_8037_ed25519_jws():
    header = env.b64u(b'{"alg":"EdDSA"}')
    payload = env.b64u(b"Example of Ed25519 signing")
    sig = env.b64u(rfc_key().sign(f"{header}.{payload}".encode()))
    assert sig == "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"  # RFC 8037 A.4


def test_a_partner_can_check_a_message_with_any_jws_library_from_the_compact_detached_form():
    key = rfc_key()
    signed = env.sign(message(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", key)
    compact = env.jws_compact(signed)
    protected, empty, sig = compact.split(".")
    assert empty == ""  # detached payload (RFC 7515 appendix F)
    assert json.loads(env.b64u_decode(protected)) == {"alg": "EdDSA", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}
    # The detached payload, rebuilt as the specification says: every member but the signature,
    # keys sorted, no spaces, UTF-8 (non-ASCII characters written as they are).
    detached = json.dumps({k: v for k, v in signed.items() if k != "signature"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert env.signing_content(signed) == detached
    key.public_key().verify(env.b64u_decode(sig), f"{protected}.{env.b64u(detached)}".encode())


def test_any_change_to_a_signed_message_breaks_its_signature():
    key = Ed25519PrivateKey.generate()
    signed = env.sign(message(), "k1", key)
    assert env.verify(signed, key.public_key())
    for change in (
        {"sender": "ML-AVANCE"},
        {"recipient": "SN-AVANCE"},
        {"sequence": 2},
        {"movement": None, "sequence": None},
        {"created_at": env.format_time(env.now())},
        {"type": "discharge"},
    ):
        assert not env.verify({**signed, **change}, key.public_key()), change
    tampered = copy.deepcopy(signed)
    tampered["payload"]["records"][0]["name"] = "Noé"
    assert not env.verify(tampered, key.public_key())
    assert not env.verify(signed, Ed25519PrivateKey.generate().public_key())  # another administration's key
    with pytest.raises(InvalidSignature):
        key.public_key().verify(env.b64u_decode(tampered["signature"]["sig"]), env.jws_compact(tampered).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=6), correlation=st.none() | st.text(min_size=1, max_size=100))
def test_whatever_the_payload_a_signed_message_verifies_and_its_canonical_form_is_key_order_independent(payload, correlation):
    key = Ed25519PrivateKey.generate()
    signed = env.sign(message(payload=payload, correlation=correlation), "k", key)
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items())))))
    assert env.verify(reordered, key.public_key())
    assert env.signing_content(reordered) == env.signing_content(signed)
    assert env.digest(signed) == env.digest({**signed, "created_at": "2000-01-01T00:00:00.000000Z"})


@settings(max_examples=80, deadline=None)
@given(signature=st.one_of(json_values, st.fixed_dictionaries({"kid": json_values, "alg": json_values, "sig": json_values})))
def test_a_garbled_signature_is_refused_never_an_error(signature):
    key = Ed25519PrivateKey.generate()
    assert env.verify({**message(), "signature": signature}, key.public_key()) is False


def test_every_message_type_of_the_specification_has_a_published_draft_2020_12_schema():
    for name in (*env.TYPES, "envelope"):
        document = env.schema(name)
        assert document is not None, name
        Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_envelope_schema_says_what_a_valid_message_is():
    key = Ed25519PrivateKey.generate()
    good = env.sign(message(), thumbprint(key.public_key().public_bytes_raw()), key)
    assert env.schema_errors("envelope", good) == []
    assert env.Envelope.from_wire(good).to_wire() == good
    bad = {
        "unknown member": {**good, "priority": "high"},
        "id not a UUID": {**good, "id": "42"},
        "movement without sequence": {**good, "sequence": None},
        "sequence without movement": {**good, "movement": None},
        "local time": {**good, "created_at": "2026-06-01T09:30:00+01:00"},
        "unknown type": {**good, "type": "invoice"},
        "other version": {**good, "version": "2"},
        "short signature": {**good, "signature": {**good["signature"], "sig": "abc"}},
        "other algorithm": {**good, "signature": {**good["signature"], "alg": "RS256"}},
        "no signature": {k: v for k, v in good.items() if k != "signature"},
    }
    for why, document in bad.items():
        assert env.schema_errors("envelope", document), why


def test_reference_data_updates_carry_offices_or_holidays_with_their_keys():
    ok = [
        {"dataset": "offices", "action": "upsert", "records": [{"code": "GH-AFL-ROAD", "name": "Aflao Border", "country": "GH", "kind": "road", "locode": None, "modes": [3]}]},
        {"dataset": "offices", "action": "delete", "records": [{"code": "GH-AFL-ROAD", "country": "GH"}]},
        {"dataset": "holidays", "action": "upsert", "effective_date": "2026-01-01", "records": [{"date": "2026-03-06", "name": "Independence Day", "country": "GH"}]},
        {"dataset": "holidays", "action": "delete", "records": [{"date": "2026-03-06", "country": "GH"}]},
    ]
    for payload in ok:
        assert env.schema_errors("reference-data-update", payload) == [], payload
    bad = [
        {"dataset": "offices", "action": "upsert", "records": [{"code": "GH-AFL-ROAD", "country": "GH"}]},
        {"dataset": "holidays", "action": "upsert", "records": [{"date": "2026-02-30", "name": "x", "country": "GH"}]},
        {"dataset": "tariffs", "action": "upsert", "records": [{}]},
        {"dataset": "offices", "action": "upsert", "records": []},
        {"dataset": "offices", "action": "upsert", "records": [{"code": "GH-X", "name": "x", "country": "gh", "kind": "road"}]},
    ]
    for payload in bad:
        assert env.schema_errors("reference-data-update", payload), payload


def test_acks_say_why_a_message_was_refused_in_french_and_english():
    assert env.schema_errors("ack", {"message_id": None, "status": "accepted"}) == []
    assert env.schema_errors("ack", {"message_id": "x", "status": "rejected"})  # a rejection gives its reason
    assert env.schema_errors("ack", {"message_id": "x", "status": "rejected", "code": "exchange.reject.replay", "reason": {"fr": "rejeu", "en": "replay"}}) == []


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=60))
def test_a_public_key_typed_by_an_operator_is_32_bytes_of_base64_or_refused(text):
    try:
        raw = parse_public_key(text)
    except ValidationFailed as exc:
        assert exc.issues[0].code == "partners.bad_key"
    else:
        assert len(raw) == 32


def test_public_keys_are_accepted_in_base64_and_base64url_with_or_without_padding():
    raw = rfc_key().public_key().public_bytes_raw()
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), RFC_X, f"  {RFC_X}\n"):
        assert parse_public_key(text) == raw


def test_every_example_in_the_specification_follows_the_schemas_and_its_signature_verifies():

    text = (ROOT / "docs" / "exchange.md").read_text(encoding="utf-8")
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    signed = [e for e in examples if isinstance(e, dict) and "signature" in e]
    # the documentation's throw-away keys
    public = {
        "CI-AVANCE": Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key(),
        "GH-AVANCE": Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key(),
    }
    assert {e["type"] for e in signed} == {"ack", "deferred-ack", "reference-data-update"}
    for example in signed:
        assert env.schema_errors("envelope", example) == [], example["id"]
        assert env.schema_errors(example["type"], example["payload"]) == [], example["id"]
        assert env.verify(example, public[example["sender"]]), example["id"]
        assert example["signature"]["kid"] == thumbprint(public[example["sender"]].public_bytes_raw())
    office = next(e for e in signed if e["type"] == "reference-data-update")
    assert env.jws_compact(office) in text  # the compact form quoted for the office example
