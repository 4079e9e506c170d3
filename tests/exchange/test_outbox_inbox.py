"""Nothing is lost, nothing is applied twice, order is kept per movement, and every refusal says why.

The inbox tests play a partner administration (CI) with its own key pair, sending to a real node
(SN) on SQLite and PostgreSQL. The delivery tests run a second real node over HTTP.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from avance.kit.errors import NotFound, ValidationFailed
from avance.exchange import inbox, keys, outbox, partners, sender
from avance.exchange.envelope import build, format_time, now, sign, verify
from avance.store.engine import write
from avance.exchange.tables import (
    exchange_alerts,
    exchange_inbox,
    exchange_outbox,
    exchange_partners,
    exchange_reference_data,
    exchange_rejections,
)
from tests.support import make_node, serve

R = "exchange.reject."


class Partner:
    """A partner administration as the node sees it: a node id, a country, a key pair."""

    def __init__(self, node_id="CI-AVANCE", country="CI"):
        self.node_id, self.country = node_id, country
        self.key = Ed25519PrivateKey.generate()
        self.public = base64.b64encode(self.key.public_key().public_bytes_raw()).decode()
        self.kid = keys.thumbprint(self.key.public_key().public_bytes_raw())

    def office(self, code, name="Office"):
        return {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": name, "country": self.country, "kind": "road"}]}

    def message(self, payload=None, *, to="SN-AVANCE", movement=None, sequence=None, message_id=None, created_at=None, type="reference-data-update", key=None, kid=None):
        envelope = build(sender=self.node_id, recipient=to, type=type, payload=payload if payload is not None else self.office(f"CI-T-{time.monotonic_ns()}"),
                         message_id=message_id, movement=movement, sequence=sequence, created_at=created_at)
        return sign(envelope, kid or self.kid, key or self.key)

    def resign(self, envelope, *, later=True):
        """The same message signed again, as a genuine retry is."""
        unsigned = {k: v for k, v in envelope.items() if k != "signature"}
        unsigned["created_at"] = format_time(now() + timedelta(milliseconds=5 if later else 0))
        return sign(unsigned, self.kid, self.key)


def identified(node):
    with write(node.engine) as conn:
        keys.init(conn, node.settings.data_dir, "SN-AVANCE")
    return node


@pytest.fixture
def sn(node):
    """The SN node with its identity, on SQLite and on PostgreSQL."""
    return identified(node)


@pytest.fixture
def sn_lite(sqlite_node):
    return identified(sqlite_node)


@pytest.fixture
def ci(sn):
    partner = Partner()
    with write(sn.engine) as conn:
        partners.add(conn, node_id=partner.node_id, country=partner.country, endpoint="http://127.0.0.1:9", public_key=partner.public)
    return partner


def receive(node, *envelopes):
    acks = inbox.receive(node.engine, node.settings.data_dir, node.settings.exchange_window_seconds, list(envelopes), node.handlers)
    with node.engine.connect() as conn:
        public = keys.load_public_key(keys.current_key(conn).public_key)
    for ack in acks:
        if "signature" in ack:
            assert verify(ack, public), "a signed answer is signed by the receiving node"
        else:
            assert ack["payload"]["code"] in inbox.UNSIGNED_ANSWERS, "only a message that could not be authenticated gets an unsigned answer"
        assert ack["type"] == "ack" and ack["sender"] == "SN-AVANCE"
    return [a["payload"] for a in acks]


def applied_offices(node):
    with node.engine.connect() as conn:
        return {r.code: r.revision for r in conn.execute(select(exchange_reference_data.c.code, exchange_reference_data.c.revision))}


# --- the outbox ------------------------------------------------------------------------------------


def test_a_message_is_queued_with_the_business_change_or_not_at_all(sn, ci):
    payload = ci.office("CI-X")
    payload["records"][0]["country"] = "SN"
    with pytest.raises(RuntimeError), write(sn.engine) as conn:
        outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload)
        raise RuntimeError("the business change failed")
    with write(sn.engine) as conn:
        first = outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload, movement="MRN-1")
        second = outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload, movement="MRN-1")
        other = outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload, movement="MRN-2")
        loose = outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload, correlation="REF-1")
    with sn.engine.connect() as conn:
        rows = {r.message_id: r for r in conn.execute(select(exchange_outbox))}
    assert set(rows) == {first, second, other, loose}
    assert [rows[i].sequence for i in (first, second, other, loose)] == [1, 2, 1, None]
    assert all(r.state == "pending" for r in rows.values())


def test_a_message_that_breaks_the_published_schema_is_refused_before_it_is_queued(sn, ci):
    bad = [
        dict(to="CI-AVANCE", type="reference-data-update", payload={"dataset": "offices"}),
        dict(to="CI-AVANCE", type="ack", payload={"message_id": None, "status": "accepted"}),
        dict(to="CI-AVANCE", type="invoice", payload={}),
        dict(to="CI-AVANCE", type="reference-data-update", payload=ci.office("X"), movement="bad movement"),
        dict(to="CI-AVANCE", type="reference-data-update", payload={"dataset": object()}),
    ]
    for fields in bad:
        with pytest.raises(ValidationFailed), write(sn.engine) as conn:
            outbox.enqueue(conn, **fields)
    with pytest.raises(NotFound), write(sn.engine) as conn:
        outbox.enqueue(conn, to="GH-AVANCE", type="reference-data-update", payload=ci.office("X"))
    with sn.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_outbox)).scalar_one() == 0


# --- the inbox -------------------------------------------------------------------------------------


def test_a_message_is_applied_once_and_a_retry_is_acknowledged_as_duplicate(sn, ci):
    message = ci.message(ci.office("CI-NOE-ROAD"))
    assert receive(sn, message) == [{"message_id": message["id"], "status": "accepted"}]
    retry = ci.resign(message)
    assert receive(sn, retry) == [{"message_id": message["id"], "status": "duplicate", "state": "applied"}]
    assert applied_offices(sn) == {"CI-NOE-ROAD": 1}
    with sn.engine.connect() as conn:
        assert conn.execute(select(exchange_inbox.c.state, exchange_inbox.c.duplicates)).one() == ("applied", 1)


def test_replays_and_forgeries_are_refused_with_the_reason_and_logged(sn, ci):
    message = ci.message(ci.office("CI-ABJ-PORT"))
    receive(sn, message)
    stranger = Partner("BF-AVANCE", "BF")
    other_key = Ed25519PrivateKey.generate()
    tampered = dict(message, payload=ci.office("CI-ABJ-PORT", name="Changed"))
    same_id_other_content = ci.message(ci.office("CI-OTHER"), message_id=message["id"])
    cases = {
        "replay": message,  # the very same copy again
        "replay ": same_id_other_content,
        "bad_signature": tampered,
        "unknown_sender": stranger.message(stranger.office("BF-X")),
        "unknown_key": ci.message(key=other_key, kid="another-key"),
        "bad_signature ": ci.message(key=other_key),  # the right kid, the wrong key
        "unsigned": {k: v for k, v in ci.message().items() if k != "signature"},
        "stale": ci.message(created_at=now() - timedelta(minutes=11)),
        "stale ": ci.message(created_at=now() + timedelta(minutes=11)),
        "wrong_recipient": ci.message(to="GH-AVANCE"),
        "schema": {**ci.message(), "version": "9"},
    }
    answers = receive(sn, *cases.values())
    for (reason, _), answer in zip(cases.items(), answers):
        assert answer["status"] == "rejected" and answer["code"] == R + reason.strip(), (reason, answer)
        assert answer["reason"]["fr"] and answer["reason"]["en"] and answer["reason"]["fr"] != answer["reason"]["en"]
    assert applied_offices(sn) == {"CI-ABJ-PORT": 1}
    with sn.engine.connect() as conn:
        logged = dict(conn.execute(select(exchange_rejections.c.code, func.count()).group_by(exchange_rejections.c.code)).all())
        assert logged[R + "replay"] == 2 and logged[R + "stale"] == 2 and logged[R + "unknown_sender"] == 1
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar_one() == 1


def test_a_partner_publishes_only_its_own_reference_data_and_a_refusal_is_final(sn, ci):
    foreign = ci.office("SN-DKR-PORT")
    foreign["records"][0]["country"] = "SN"
    message = ci.message(foreign)
    [answer] = receive(sn, message)
    assert answer["status"] == "rejected" and answer["code"] == "error.validation"
    assert "/payload/records/0/country" in answer["reason"]["en"] and answer["errors"][0]["pointer"] == "/payload/records/0/country"
    assert applied_offices(sn) == {}
    # a retry gets the same answer, and is not applied either
    [again] = receive(sn, ci.resign(message))
    assert again["status"] == "rejected" and again["code"] == "error.validation"
    invalid = ci.message({"dataset": "offices", "action": "upsert", "records": []})
    [answer] = receive(sn, invalid)
    assert answer["code"] == R + "schema" and answer["errors"][0]["pointer"].startswith("/payload")


def test_messages_of_a_movement_are_applied_in_order_whatever_order_they_arrive_in(sn, ci):
    first = ci.message(ci.office("CI-M-1", "v1"), movement="MRN-7", sequence=1)
    second = ci.message(ci.office("CI-M-1", "v2"), movement="MRN-7", sequence=2)
    third = ci.message(ci.office("CI-M-1", "v3"), movement="MRN-7", sequence=3)
    elsewhere = ci.message(ci.office("CI-M-9"), movement="MRN-8", sequence=1)
    assert [a["status"] for a in receive(sn, third, elsewhere)] == ["buffered", "accepted"]
    assert [a["status"] for a in receive(sn, second)] == ["buffered"]
    assert applied_offices(sn) == {"CI-M-9": 1}
    assert [a["status"] for a in receive(sn, first)] == ["accepted"]
    with sn.engine.connect() as conn:
        record = conn.execute(select(exchange_reference_data.c.record, exchange_reference_data.c.revision).where(exchange_reference_data.c.code == "CI-M-1")).one()
        deferred = conn.execute(select(exchange_outbox.c.type, exchange_outbox.c.payload).where(exchange_outbox.c.recipient == "CI-AVANCE").order_by(exchange_outbox.c.id)).all()
    assert record.record["name"] == "v3" and record.revision == 3  # v1, then v2, then v3
    # the messages held back get their acknowledgement later, as messages of their own
    assert [(t, p["message_id"], p["status"]) for t, p in deferred] == [("deferred-ack", second["id"], "accepted"), ("deferred-ack", third["id"], "accepted")]
    # a different message claiming a position already taken is refused
    [answer] = receive(sn, ci.message(ci.office("CI-M-1", "forged"), movement="MRN-7", sequence=2))
    assert answer["code"] == R + "sequence"


def test_a_refused_message_ahead_of_its_turn_does_not_block_its_movement(sn, ci):
    bad = ci.message({"dataset": "offices", "action": "upsert", "records": []}, movement="MRN-5", sequence=2)
    assert receive(sn, bad)[0]["code"] == R + "schema"
    after = ci.message(ci.office("CI-A-3"), movement="MRN-5", sequence=3)
    assert receive(sn, after)[0]["status"] == "buffered"
    assert receive(sn, ci.message(ci.office("CI-A-1"), movement="MRN-5", sequence=1))[0]["status"] == "accepted"
    assert applied_offices(sn) == {"CI-A-1": 1, "CI-A-3": 1}


def test_a_handler_that_fails_unexpectedly_answers_retry_records_nothing_and_succeeds_later(sn, ci, monkeypatch):
    message = ci.message(ci.office("CI-R-1"), movement="MRN-R", sequence=1)
    follower = ci.message(ci.office("CI-R-2"), movement="MRN-R", sequence=2)
    real = sn.handlers["reference-data-update"]

    def crashing(conn, envelope, payload):
        real(conn, envelope, payload)  # its writes are rolled back with the savepoint
        raise RuntimeError("disk full")

    monkeypatch.setitem(sn.handlers, "reference-data-update", crashing)
    answers = receive(sn, message, follower)
    assert [a["status"] for a in answers] == ["retry", "buffered"]
    assert answers[0]["code"] == R + "internal"
    assert applied_offices(sn) == {}
    monkeypatch.setitem(sn.handlers, "reference-data-update", real)
    assert receive(sn, ci.resign(message))[0]["status"] == "accepted"
    assert applied_offices(sn) == {"CI-R-1": 1, "CI-R-2": 1}


def test_the_same_batch_posted_twice_at_once_is_applied_once(sn, ci):
    messages = [ci.message(ci.office(f"CI-C-{i}")) for i in range(20)]
    retries = [ci.resign(m) for m in messages]
    results = {}

    def post(name, batch):
        results[name] = receive(sn, *batch)

    threads = [threading.Thread(target=post, args=("a", messages)), threading.Thread(target=post, args=("b", retries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for first, second in zip(results["a"], results["b"]):
        assert sorted([first["status"], second["status"]])[0] == "accepted"  # one copy applied, the other not
        assert sorted([first["status"], second["status"]])[1] in ("duplicate", "rejected")
    assert applied_offices(sn) == {f"CI-C-{i}": 1 for i in range(20)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.dictionaries(st.sampled_from(["id", "type", "sender", "recipient", "signature", "payload", "movement"]), st.one_of(st.none(), st.text(max_size=40), st.integers())), ), max_size=6))
def test_whatever_arrives_the_inbox_answers_each_item_with_an_unsigned_refusal_and_stores_nothing(sqlite_node, items):
    node = sqlite_node
    with write(node.engine) as conn:
        if keys.node_id_or_none(conn) is None:
            keys.init(conn, node.settings.data_dir, "SN-AVANCE")
    acks = inbox.receive(node.engine, node.settings.data_dir, 600, items, node.handlers)
    assert len(acks) == len(items)
    assert all(a["payload"]["status"] == "rejected" and "signature" not in a for a in acks)
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar_one() == 0


# --- delivery --------------------------------------------------------------------------------------


@contextmanager
def live(node):
    generator = serve(node)
    api = next(generator)
    try:
        yield api
    finally:
        next(generator, None)


@pytest.fixture
def pair(sn_lite, tmp_path):
    """SN (in this process, no background sender) and CI (served over HTTP), partners of each other."""
    yield from make_pair(sn_lite, tmp_path)


@pytest.fixture
def pair_any(sn, tmp_path):
    """The same, with SN on SQLite and on PostgreSQL."""
    yield from make_pair(sn, tmp_path)


def make_pair(sn, tmp_path):
    ci_dir = tmp_path / "ci"
    ci_node = make_node(f"sqlite:///{(ci_dir / 'avance.db').as_posix()}", ci_dir, country="CI")
    with write(ci_node.engine) as conn:
        keys.init(conn, ci_dir, "CI-AVANCE")
    with live(ci_node) as api:
        with sn.engine.connect() as conn:
            sn_key = keys.public_key_base64(keys.current_key(conn))
        with ci_node.engine.connect() as conn:
            ci_key = keys.public_key_base64(keys.current_key(conn))
        with write(sn.engine) as conn:
            partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint=api.url, public_key=ci_key)
        with write(ci_node.engine) as conn:
            partners.add(conn, node_id="SN-AVANCE", country="SN", endpoint="http://127.0.0.1:9", public_key=sn_key)
        yield sn, ci_node, api
    ci_node.engine.dispose()


def sn_office(code, name="Dakar"):
    return {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": name, "country": "SN", "kind": "port"}]}


def queue(node, count, start=0, to="CI-AVANCE"):
    with write(node.engine) as conn:
        return [outbox.enqueue(conn, to=to, type="reference-data-update", payload=sn_office(f"SN-Q-{start + i}"), movement="reference-data:offices") for i in range(count)]


def test_queued_messages_are_delivered_in_batches_and_the_signed_acks_kept_as_proof(pair_any):
    sn_node, ci_node, _ = pair_any
    ids = queue(sn_node, 250)
    with httpx.Client() as client:
        first = sender.deliver_once(sn_node, "CI-AVANCE", client)
        second = sender.deliver_once(sn_node, "CI-AVANCE", client)
        third = sender.deliver_once(sn_node, "CI-AVANCE", client)
    assert (first.sent, first.delivered, second.sent, second.delivered, third.sent) == (200, 200, 50, 50, 0)
    assert applied_offices(ci_node) == {f"SN-Q-{i}": 1 for i in range(250)}
    with ci_node.engine.connect() as conn:
        ci_public = keys.load_public_key(keys.current_key(conn).public_key)
    with sn_node.engine.connect() as conn:
        rows = conn.execute(select(exchange_outbox).order_by(exchange_outbox.c.id)).all()
        link = conn.execute(select(exchange_partners)).one()
    assert [r.message_id for r in rows] == ids
    assert all(r.state == "delivered" and r.outcome == "accepted" and verify(r.ack, ci_public) for r in rows)
    assert link.last_success_at is not None and link.failures == 0


def test_an_unreachable_partner_loses_nothing_the_link_backs_off_and_resumes_where_it_stopped(pair):
    sn_node, ci_node, api = pair
    with write(sn_node.engine) as conn:
        partners.update_endpoint(conn, "CI-AVANCE", "http://127.0.0.1:9")  # nothing listens there
    ids = queue(sn_node, 5)
    with httpx.Client(timeout=5) as client:
        failed = sender.deliver_once(sn_node, "CI-AVANCE", client)
        assert failed.error and failed.pending == 5 and 0 < failed.wait <= sn_node.settings.exchange_retry_max_seconds
        with sn_node.engine.connect() as conn:
            link = conn.execute(select(exchange_partners)).one()
            assert link.failures == 1 and link.last_error and link.next_attempt_at > now()
            assert conn.execute(select(func.count()).where(exchange_outbox.c.state == "pending")).scalar_one() == 5
        with write(sn_node.engine) as conn:  # the partner is back, at its address
            partners.update_endpoint(conn, "CI-AVANCE", api.url)
        done = sender.deliver_once(sn_node, "CI-AVANCE", client)
    assert done.delivered == 5
    assert applied_offices(ci_node) == {f"SN-Q-{i}": 1 for i in range(5)}
    with sn_node.engine.connect() as conn:
        assert [r.message_id for r in conn.execute(select(exchange_outbox.c.message_id).order_by(exchange_outbox.c.id))] == ids


@settings(max_examples=200, deadline=None)
@given(failures=st.integers(0, 1000), cap=st.floats(0.1, 3600))
def test_retries_back_off_exponentially_with_jitter_never_beyond_the_cap(failures, cap):
    wait = sender.backoff(failures, cap)
    ceiling = min(cap, sender.BASE_DELAY * 2**min(failures, 30))
    assert ceiling / 2 <= wait <= ceiling <= cap


def test_messages_undelivered_for_too_long_go_to_dead_letter_with_an_alert_and_can_be_sent_again(pair, caplog):
    sn_node, ci_node, _ = pair
    queue(sn_node, 3)
    with write(sn_node.engine) as conn:
        conn.execute(update(exchange_outbox).values(pending_since=now() - timedelta(hours=sn_node.settings.exchange_dead_letter_hours + 1)))
    with caplog.at_level(logging.WARNING, logger="avance.exchange"):
        assert sender.dead_letter(sn_node, "CI-AVANCE") == 3
    assert any("dead letter" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    with sn_node.engine.connect() as conn:
        alert = conn.execute(select(exchange_alerts)).one()
        assert alert.kind == "dead_letter" and alert.detail["count"] == 3
    with httpx.Client() as client:
        assert sender.deliver_once(sn_node, "CI-AVANCE", client).sent == 0
        with write(sn_node.engine) as conn:
            assert outbox.requeue(conn, partner="CI-AVANCE") == 3
        assert sender.deliver_once(sn_node, "CI-AVANCE", client).delivered == 3
    assert len(applied_offices(ci_node)) == 3


def test_a_partner_that_does_not_know_this_node_keeps_its_messages_waiting_and_says_why(pair):
    sn_node, ci_node, _ = pair
    with write(ci_node.engine) as conn:
        partners.remove(conn, "SN-AVANCE")
    queue(sn_node, 2)
    with httpx.Client() as client:
        attempt = sender.deliver_once(sn_node, "CI-AVANCE", client)
    assert attempt.pending == 2 and R + "unknown_sender" in attempt.error
    with sn_node.engine.connect() as conn:
        assert {r.state for r in conn.execute(select(exchange_outbox.c.state))} == {"pending"}
        assert R + "unknown_sender" in conn.execute(select(exchange_partners.c.last_error)).scalar_one()


def test_a_message_the_partner_refuses_for_its_content_is_final_and_raises_an_alert(pair):
    sn_node, ci_node, _ = pair
    with write(sn_node.engine) as conn:  # SN publishes a record for CI: CI refuses it
        payload = sn_office("CI-ABJ-PORT")
        payload["records"][0]["country"] = "CI"
        outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload)
    with httpx.Client() as client:
        attempt = sender.deliver_once(sn_node, "CI-AVANCE", client)
    assert attempt.rejected == 1
    with sn_node.engine.connect() as conn:
        row = conn.execute(select(exchange_outbox)).one()
        assert (row.state, row.outcome, row.outcome_code) == ("rejected", "rejected", "error.validation")
        assert conn.execute(select(exchange_alerts.c.kind)).scalar_one() == "rejected"


def test_a_key_changeover_needs_no_downtime(pair_any):
    sn_node, ci_node, _ = pair_any
    with sn_node.engine.connect() as conn:
        old = keys.current_key(conn)
    with write(sn_node.engine) as conn:
        new = keys.rotate(conn, sn_node.settings.data_dir)
    queue(sn_node, 2)
    with httpx.Client() as client:
        # CI does not know SN's new key yet: SN falls back on the old one and the messages flow
        probe = sender.deliver_once(sn_node, "CI-AVANCE", client)
        assert probe.resend and probe.delivered == 0
        fallback = sender.deliver_once(sn_node, "CI-AVANCE", client)
        assert fallback.delivered == 2
        # CI's own messages to SN are acknowledged with a key CI knows
        ci_payload = {"dataset": "offices", "action": "upsert", "records": [{"code": "CI-K-1", "name": "x", "country": "CI", "kind": "road"}]}
        with write(ci_node.engine) as conn:
            partners.update_endpoint(conn, "SN-AVANCE", "http://127.0.0.1:1")
            outbox.enqueue(conn, to="SN-AVANCE", type="reference-data-update", payload=ci_payload)
        with live(sn_node) as sn_api:
            with write(ci_node.engine) as conn:
                partners.update_endpoint(conn, "SN-AVANCE", sn_api.url)
            wait_until(lambda: applied_offices(sn_node) == {"CI-K-1": 1})
            wait_until(lambda: pending(ci_node) == 0)
            # CI registers SN's new key; at the next probe SN signs with it
            with write(ci_node.engine) as conn:
                partners.add_key(conn, "SN-AVANCE", keys.public_key_base64(new))
            with write(sn_node.engine) as conn:
                conn.execute(update(exchange_partners).values(probe_after=now() - timedelta(seconds=1)))
            queue(sn_node, 1, start=10)
            wait_until(lambda: pending(sn_node) == 0)
            with sn_node.engine.connect() as conn:
                assert conn.execute(select(exchange_partners.c.confirmed_kid)).scalar_one() == new.kid
                last = conn.execute(select(exchange_outbox.c.signature).order_by(exchange_outbox.c.id.desc())).first()[0]
            assert last["kid"] == new.kid
            # the changeover ends: CI drops the old key, and the link still works
            with write(ci_node.engine) as conn:
                partners.remove_key(conn, "SN-AVANCE", old.kid)
            queue(sn_node, 1, start=20)
            wait_until(lambda: pending(sn_node) == 0)
    assert {"SN-Q-0", "SN-Q-1", "SN-Q-10", "SN-Q-20"} <= set(applied_offices(ci_node))


def pending(node):
    with node.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(exchange_outbox).where(exchange_outbox.c.state == "pending")).scalar_one()


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_background_sender_delivers_as_soon_as_the_transaction_commits(pair):
    sn_node, ci_node, _ = pair
    with live(sn_node) as sn_api:
        with sn_api.client("admin") as http:
            for i in range(3):
                response = http.post("/exchange/reference-data", json={**sn_office(f"SN-W-{i}"), "to": ["CI-AVANCE"]})
                assert response.status_code == 202, response.text
        wait_until(lambda: len(applied_offices(ci_node)) == 3, timeout=20)
    assert pending(sn_node) == 0


def test_only_one_sender_per_partner_delivers_whatever_the_number_of_server_processes(sn, ci):
    at = now()
    assert sender.acquire_lease(sn.engine, "CI-AVANCE", "host-a:1:1", at)
    assert sender.acquire_lease(sn.engine, "CI-AVANCE", "host-a:1:1", at)  # renewal
    assert not sender.acquire_lease(sn.engine, "CI-AVANCE", "host-b:2:2", at)
    assert sender.acquire_lease(sn.engine, "CI-AVANCE", "host-b:2:2", at + sender.LEASE + timedelta(seconds=1))  # expired
    dead_pid = "%s:%d:1" % (__import__("socket").gethostname(), 2**22 + 12345)
    with write(sn.engine) as conn:
        conn.execute(update(exchange_partners).values(lease_owner=dead_pid, lease_until=at + timedelta(minutes=5)))
    assert sender.acquire_lease(sn.engine, "CI-AVANCE", "host-c:3:3", at)  # its holder on this host is gone


def test_held_messages_are_listed_by_status(sn, ci):
    receive(sn, ci.message(ci.office("CI-H-2"), movement="MRN-H", sequence=2))
    from avance.exchange.status import report

    with sn.engine.connect() as conn:
        data = report(conn)
    assert data["partners"][0]["inbound"]["buffered"] == 1
