"""The audit trail as a customs security officer and a database administrator rely on it: every
change recorded with who, from where, when and what; a rolled-back change leaves no record; and
someone with database access cannot alter, remove, insert or rewrite records unseen."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select, text, update

from avance.audit import service
from avance.audit.tables import audit_head, audit_records, audit_signed_heads
from avance.auth.model import Principal, Role
from avance.store import node_settings
from avance.store.audit import canonical, chain_hash
from avance.store.engine import make_engine, write

OFFICER = Principal(user_id=7, name="awa.diop", role=Role.OFFICER, via="token:7", address="10.0.0.5")


def _fill(node: Any, n: int = 6) -> None:
    with write(node.engine) as conn:
        for i in range(n):
            service.record(conn, OFFICER, "valuation.bound_changed", "valuation_override", i, before={"max": i}, after={"max": i + 1})


def _check(node: Any, keyring: service.Keyring, trusted: list | tuple = ()) -> service.Verification:
    with node.engine.connect() as conn:
        return service.verify(conn, keyring.public_keys(conn), trusted)


def _last(node: Any) -> dict[str, Any]:
    with node.engine.connect() as conn:
        rows, _ = service.search(conn, service.Filters(), limit=1)
    return rows[0]


def test_a_change_is_recorded_with_who_from_where_when_what_and_digests(node):
    before, after = {"hs": "8703", "max": "1500.5"}, {"hs": "8703", "max": "1800"}
    with write(node.engine) as conn:
        service.record(conn, OFFICER, "valuation.bound_changed", "valuation_override", 12, before=before, after=after)
    r = _last(node)
    assert (r["actor"], r["role"], r["via"], r["address"]) == ("awa.diop", "officer", "token:7", "10.0.0.5")
    assert (r["action"], r["object_type"], r["object_id"]) == ("valuation.bound_changed", "valuation_override", "12")
    assert r["before_digest"] == hashlib.sha256(canonical(before)).hexdigest() and r["before_doc"] == before
    assert r["after_digest"] == hashlib.sha256(canonical(after)).hexdigest() and r["after_doc"] == after
    at = datetime.fromisoformat(r["at"])
    assert at.tzinfo is not None and abs(datetime.now(timezone.utc) - at) < timedelta(minutes=1)
    assert r["prev_hash"] != r["hash"]


def test_secrets_are_kept_as_digests_only(node):
    with write(node.engine) as conn:
        node_settings.put(conn, "selection.draw_secrets", '{"key": "very secret"}')
    r = _last(node)
    assert r["action"] == "settings.changed" and r["object_id"] == "selection.draw_secrets"
    assert r["after_digest"] and r["after_doc"] is None and r["before_doc"] is None
    assert "very secret" not in str(r)


def test_a_rolled_back_change_leaves_no_record(node):
    _fill(node, 2)
    try:
        with write(node.engine) as conn:
            service.record(conn, OFFICER, "declaration.released", "declaration", 1)
            raise RuntimeError("the change fails after its record")
    except RuntimeError:
        pass
    with node.engine.connect() as conn:
        assert [r["action"] for r in service.records(conn, service.Filters(actor="awa.diop"))] == ["valuation.bound_changed"] * 2


def test_a_sound_chain_verifies_and_its_head_is_signed(node, keyring):
    _fill(node)
    with write(node.engine) as conn:
        head = service.sign(conn, keyring)
    result = _check(node, keyring)
    assert result.sound, result.problem
    assert result.last_signed_seq == head["seq"] == result.last_seq and result.unsigned == 0


def _tamper_sql(node: Any, sql: str) -> None:
    with write(node.engine) as conn:
        conn.execute(text(sql))


def test_an_altered_record_is_named(node, keyring):
    _fill(node)
    _tamper_sql(node, "UPDATE audit_records SET actor = 'someone.else' WHERE seq = (SELECT max(seq) FROM audit_records) - 2")
    result = _check(node, keyring)
    last = result.last_seq
    assert result.problem is not None and result.problem.code == "audit.bad.content"
    assert result.problem.seq == _head_seq(node) - 2 and last == result.problem.seq - 1


def _head_seq(node: Any) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(select(audit_head.c.seq)).scalar_one())


def test_a_removed_middle_record_is_named(node, keyring):
    _fill(node)
    gone = _head_seq(node) - 3
    with write(node.engine) as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq == gone))
    result = _check(node, keyring)
    assert result.problem is not None and (result.problem.code, result.problem.seq) == ("audit.bad.missing", gone)


def test_an_inserted_record_is_named(node, keyring):
    """A forged record slipped in after record k (its own hash well made, the later ones renumbered)."""
    _fill(node)
    k = _head_seq(node) - 3
    with write(node.engine) as conn:
        rows = conn.execute(select(audit_records).where(audit_records.c.seq > k).order_by(audit_records.c.seq.desc())).mappings().all()
        for row in rows:  # make room, from the end
            conn.execute(update(audit_records).where(audit_records.c.seq == row["seq"]).values(seq=row["seq"] + 1))
        prev = conn.execute(select(audit_records.c.hash).where(audit_records.c.seq == k)).scalar_one()
        forged = {**dict(rows[-1]), "actor": "ghost", "seq": k + 1, "prev_hash": prev}
        forged["hash"] = chain_hash(prev, k + 1, forged)
        conn.execute(audit_records.insert().values(**forged))
        conn.execute(update(audit_head).values(seq=audit_head.c.seq + 1))
    result = _check(node, keyring)
    assert result.problem is not None and (result.problem.code, result.problem.seq) == ("audit.bad.link", k + 2)


def test_records_removed_at_the_end_are_caught_by_the_head(node, keyring):
    _fill(node)
    last = _head_seq(node)
    with write(node.engine) as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq == last))
    result = _check(node, keyring)
    assert result.problem is not None and (result.problem.code, result.problem.seq) == ("audit.bad.head", last)


def _rewrite_everything(node: Any, actor: str = "someone.else") -> None:
    """What a database administrator could do without the key: every record rewritten with its
    hashes made again, the head set to match."""
    with write(node.engine) as conn:
        rows = conn.execute(select(audit_records).order_by(audit_records.c.seq)).mappings().all()
        prev = "0" * 64
        for row in rows:
            content = {**dict(row), "actor": actor if row["actor"] == OFFICER.name else row["actor"]}
            own = chain_hash(prev, row["seq"], content)
            conn.execute(update(audit_records).where(audit_records.c.seq == row["seq"]).values(actor=content["actor"], prev_hash=prev, hash=own))
            prev = own
        conn.execute(update(audit_head).values(hash=prev))


def test_a_chain_rewritten_consistently_without_the_key_is_caught_by_the_signed_head(node, keyring):
    _fill(node)
    with write(node.engine) as conn:
        signed = service.sign(conn, keyring)
    _fill(node, 2)  # records after the signature
    _rewrite_everything(node)
    result = _check(node, keyring)
    assert result.problem is not None and (result.problem.code, result.problem.seq) == ("audit.bad.signed_hash", signed["seq"])


def test_a_head_signed_again_with_another_key_or_forged_is_caught(node, keyring):
    _fill(node)
    with write(node.engine) as conn:
        signed = service.sign(conn, keyring)
    _rewrite_everything(node)
    with write(node.engine) as conn:  # the signature left as it was, over the new hash
        conn.execute(update(audit_signed_heads).values(hash=conn.execute(select(audit_head.c.hash)).scalar_one()))
    result = _check(node, keyring)
    assert result.problem is not None and (result.problem.code, result.problem.seq) == ("audit.bad.signature", signed["seq"])


def test_signed_heads_kept_off_the_node_catch_a_rewrite_that_also_removed_the_stored_heads(node, keyring):
    _fill(node)
    with write(node.engine) as conn:
        service.sign(conn, keyring)
        exported = service.read_heads(service.jsonl(service.signed_heads(conn)))
    _rewrite_everything(node)
    with write(node.engine) as conn:
        conn.execute(delete(audit_signed_heads))
    assert _check(node, keyring).sound, "without the exported heads, nothing is left to compare with"
    result = _check(node, keyring, exported)
    assert result.problem is not None and result.problem.code == "audit.bad.signed_hash"


def test_the_worker_job_signs_only_when_the_chain_moved(node, keyring):
    _fill(node, 2)
    assert service.sign_if_moved(node.engine, keyring) is not None
    assert service.sign_if_moved(node.engine, keyring) is None
    _fill(node, 1)
    assert service.sign_if_moved(node.engine, keyring)["seq"] == _head_seq(node)


def test_processes_writing_at_once_make_one_chain(node, keyring):
    """Several writers with their own engines (as several processes would): one gapless chain."""
    url = node.engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def writer(who: str) -> None:
        engine = make_engine(url)
        try:
            for i in range(10):
                with write(engine) as conn:
                    service.record(conn, who, "test.write", "thing", i)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            engine.dispose()

    before = _head_seq(node)
    threads = [threading.Thread(target=writer, args=(f"writer-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert _head_seq(node) == before + 30
    assert _check(node, keyring).sound


def test_search_filters_by_actor_object_and_period(node):
    _fill(node, 3)
    with write(node.engine) as conn:
        service.record(conn, "mamadou", "profile.changed", "risk_profile", "P-TEXT")
    with node.engine.connect() as conn:
        rows, total = service.search(conn, service.Filters(actor="mamadou"))
        assert total == 1 and rows[0]["object_id"] == "P-TEXT"
        _, total = service.search(conn, service.Filters(object_type="valuation_override", object_id="1"))
        assert total == 1
        _, total = service.search(conn, service.Filters(actor="awa.diop", since=datetime.now(timezone.utc) + timedelta(hours=1)))
        assert total == 0
        _, total = service.search(conn, service.Filters(actor="awa.diop", until=datetime.now(timezone.utc) + timedelta(hours=1)))
        assert total == 3
