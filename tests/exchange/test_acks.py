"""What a node answers, and what it believes of answers: only a message whose signature verified is
answered with a signed acknowledgement (anything else gets an unsigned rejection, which the sender
never takes as final); the acknowledgement of a message held back for order comes later as a
``deferred-ack`` message of its own, accepted only for a message this node sent and the partner
had answered ``buffered``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from avance.exchange import inbox, keys, outbox, partners
from avance.exchange.envelope import TYPES, build, now, schema, sign, verify
from avance.exchange.tables import exchange_outbox, exchange_reference_data
from avance.store.engine import write
from tests.support import hand_over, queued, wired_nodes

R = "exchange.reject."


@pytest.fixture
def sn_ci(tmp_path):
    made = wired_nodes(tmp_path, ["SN", "CI"])
    yield made
    for n in made:
        n.engine.dispose()


def office(code: str, country: str = "CI") -> dict:
    return {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": "Office", "country": country, "kind": "road"}]}


def outbox_row(node, message_id):
    with node.engine.connect() as conn:
        return conn.execute(select(exchange_outbox).where(exchange_outbox.c.message_id == message_id)).one()


def test_only_a_message_whose_signature_verified_gets_a_signed_answer(sn_ci):
    sn, ci = sn_ci
    ci_key = keys.private_key(ci.settings.data_dir, _kid(ci))
    stranger = Ed25519PrivateKey.generate()

    def message(sender="CI-AVANCE", to="SN-AVANCE", key=ci_key, kid=None, created_at=None, **fields):
        envelope = build(sender=sender, recipient=to, type="reference-data-update", payload=office(f"CI-T-{time.monotonic_ns()}"), created_at=created_at, **fields)
        return sign(envelope, kid or _kid(ci), key)

    genuine = message()
    cases = {
        "unsigned": ({k: v for k, v in message().items() if k != "signature"}, False),
        "unknown_sender": (message(sender="BF-AVANCE"), False),
        "unknown_key": (message(key=stranger, kid="another-key"), False),
        "bad_signature": (message(key=stranger), False),
        "wrong_recipient": (message(to="GH-AVANCE"), False),
        "schema": ({**message(), "version": "9"}, False),
        "stale": (message(created_at=now() - timedelta(hours=1)), True),  # genuine, but too old: the answer is signed
    }
    acks = inbox.receive(sn.engine, sn.settings.data_dir, 600, [genuine] + [m for m, _ in cases.values()], sn.handlers)
    with sn.engine.connect() as conn:
        public = keys.load_public_key(keys.current_key(conn).public_key)
    assert acks[0]["payload"]["status"] == "accepted" and verify(acks[0], public)
    for (code, (_, signed)), ack in zip(cases.items(), acks[1:]):
        assert ack["type"] == "ack" and ack["payload"]["status"] == "rejected" and ack["payload"]["code"] == R + code, code
        assert ack["payload"]["reason"]["fr"] and ack["payload"]["reason"]["en"]
        if signed:
            assert verify(ack, public), code
        else:
            assert "signature" not in ack, code


def test_a_partner_that_cannot_authenticate_this_node_answers_unsigned_and_the_messages_wait(sn_ci):
    sn, ci = sn_ci
    with write(sn.engine) as conn:
        partners.remove(conn, "CI-AVANCE")
    with write(ci.engine) as conn:
        message_id = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-W-1"))
    [answer] = hand_over(ci, sn)  # the sender reads the unsigned answer...
    assert answer["code"] == R + "unknown_sender"
    row = outbox_row(ci, message_id)
    assert row.state == "pending" and row.ack is None  # ...and keeps the message: an unsigned answer proves nothing


def test_the_acknowledgement_of_a_message_held_for_order_is_a_deferred_ack_message(sn_ci):
    sn, ci = sn_ci
    with write(ci.engine) as conn:
        first = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-O-1"), movement="reference-data:offices")
        second = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-O-2"), movement="reference-data:offices")
    assert [a["status"] for a in hand_over(ci, sn, only=second)] == ["buffered"]
    assert outbox_row(ci, second).outcome == "buffered"
    assert [a["status"] for a in hand_over(ci, sn, only=first)] == ["accepted"]
    [deferred] = queued(sn, "deferred-ack")
    assert deferred["payload"] == {"message_id": second, "status": "accepted"} and deferred["correlation"] == second
    assert queued(sn, "ack") == []
    assert [a["status"] for a in hand_over(sn, ci)] == ["accepted"]
    row = outbox_row(ci, second)
    assert (row.state, row.outcome) == ("delivered", "accepted") and row.ack["type"] == "deferred-ack"
    assert "deferred-ack" in TYPES and schema("deferred-ack") is not None
    assert "deferred-ack" in schema("envelope")["properties"]["type"]["enum"]


def test_an_unsolicited_deferred_ack_is_refused(sn_ci):
    sn, ci = sn_ci
    with write(ci.engine) as conn:
        answered = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-U-1"))
    assert [a["status"] for a in hand_over(ci, sn)] == ["accepted"]
    with write(sn.engine) as conn:  # SN claims a different outcome for a message it had accepted, and for one never sent
        outbox.queue_deferred_ack(conn, to="CI-AVANCE", payload={"message_id": answered, "status": "rejected", "code": "error.validation", "reason": {"fr": "non", "en": "no"}}, correlation=answered)
        outbox.queue_deferred_ack(conn, to="CI-AVANCE", payload={"message_id": "00000000-0000-4000-8000-000000000000", "status": "accepted"}, correlation="00000000-0000-4000-8000-000000000000")
    answers = hand_over(sn, ci)
    assert [(a["status"], a["code"]) for a in answers] == [("rejected", R + "unsolicited_ack")] * 2
    row = outbox_row(ci, answered)
    assert (row.state, row.outcome) == ("delivered", "accepted")


def test_an_acknowledgement_sent_as_a_message_of_type_ack_is_not_applied(sn_ci):
    sn, ci = sn_ci
    with write(ci.engine) as conn:
        answered = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-V-1"))
    hand_over(ci, sn)
    envelope = sign(build(sender="SN-AVANCE", recipient="CI-AVANCE", type="ack", payload={"message_id": answered, "status": "rejected", "code": "x", "reason": {"fr": "x", "en": "x"}}, correlation=answered),
                    _kid(sn), keys.private_key(sn.settings.data_dir, _kid(sn)))
    [ack] = inbox.receive(ci.engine, ci.settings.data_dir, 600, [envelope], ci.handlers)
    assert ack["payload"]["status"] == "rejected" and ack["payload"]["code"] == R + "unsupported_type"
    assert outbox_row(ci, answered).outcome == "accepted"
    with sn.engine.connect() as conn:
        assert conn.execute(select(exchange_reference_data.c.code)).scalars().all() == ["CI-V-1"]


def _kid(node) -> str:
    with node.engine.connect() as conn:
        return keys.current_key(conn).kid



def test_a_deferred_ack_that_overtakes_the_answer_it_follows_is_retried_then_recorded(sn_ci):
    sn, ci = sn_ci
    with write(ci.engine) as conn:
        first = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-L-1"), movement="reference-data:offices")
        second = outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=office("CI-L-2"), movement="reference-data:offices")
    assert [a["status"] for a in hand_over(ci, sn, only=second, record=False)] == ["buffered"]  # the answer is lost
    assert outbox_row(ci, second).state == "pending"
    assert [a["status"] for a in hand_over(ci, sn, only=first)] == ["accepted"]
    [answer] = hand_over(sn, ci)  # SN's deferred-ack arrives before CI knows SN held the message
    assert (answer["status"], answer["code"]) == ("retry", R + "internal")
    assert [a["status"] for a in hand_over(ci, sn, only=second)] == ["duplicate"]
    with write(sn.engine) as conn:  # SN's sender tries again
        conn.execute(exchange_outbox.update().where(exchange_outbox.c.type == "deferred-ack").values(next_attempt_at=None))
    assert [a["status"] for a in hand_over(sn, ci)] == ["accepted"]
    row = outbox_row(ci, second)
    assert (row.state, row.outcome) == ("delivered", "accepted")
