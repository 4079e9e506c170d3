"""API tokens expire, can be replaced without a new user, and show when they were last used: an
administrator sees who still calls the node and cuts a leaked token off without losing the user's
history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from avance.auth.model import Role
from avance.auth.service import USE_PRECISION, create_user, identify, list_users, record_use, revoke_user, rotate_token
from avance.auth.tables import users
from avance.kit.errors import Conflict, NotFound, Unauthorized
from avance.migrations import upgrade
from avance.store.engine import make_engine, write
from tests.support import LiveApi, run_avance, serve

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def live(sqlite_node) -> Iterator[LiveApi]:  # type: ignore[no-untyped-def]
    yield from serve(sqlite_node)


def test_a_token_works_for_its_days_then_gets_401_saying_it_expired(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        _, token = create_user(conn, name="fatou", role=Role.ANALYST, days=90, now=NOW)
    with sqlite_node.engine.connect() as conn:
        assert identify(conn, token, now=NOW + timedelta(days=89, hours=23)).principal.name == "fatou"
        with pytest.raises(Unauthorized) as expired:
            identify(conn, token, now=NOW + timedelta(days=90))
    assert expired.value.code == "unauthorized.expired" and expired.value.params == {"at": "2027-03-06"}


def test_an_expired_token_is_refused_over_http_with_a_clear_message(live: LiveApi) -> None:
    with write(live.node.engine) as conn:
        _, old = create_user(conn, name="old-program", role=Role.ANALYST, days=1, now=datetime.now(timezone.utc) - timedelta(days=2))
    live.tokens["old-program"] = old
    with live.client("old-program", lang="en") as http:
        answer = http.get("/declarations")
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized.expired"
    assert "expired on" in answer.json()["detail"] and "rotate-token" in answer.json()["detail"]
    with live.client("analyst", lang="en") as http:
        assert http.get("/declarations").status_code == 200, "a token within its days works"


def test_rotating_gives_the_same_user_a_new_token_and_the_old_one_stops_at_once(live: LiveApi) -> None:
    before = live.tokens["analyst"]
    with write(live.node.engine) as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.name == "analyst")).scalar_one()
        new = rotate_token(conn, "analyst", days=30, now=NOW)
    assert new != before and new.startswith("avk_")
    with live.client(lang="en") as http:
        refused = http.get("/declarations", headers={"Authorization": f"Bearer {before}"})
        accepted = http.get("/declarations", headers={"Authorization": f"Bearer {new}"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized.invalid"
    assert accepted.status_code == 200
    with live.node.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == "analyst")).mappings().one()
    assert row["id"] == user_id, "the same user, with its history"
    assert row["token_expires_at"] == NOW + timedelta(days=30)


def test_a_revoked_or_unknown_user_gets_no_new_token(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        create_user(conn, name="gone", role=Role.OFFICER)
        revoke_user(conn, "gone")
        with pytest.raises(Conflict) as revoked:
            rotate_token(conn, "gone")
        with pytest.raises(NotFound):
            rotate_token(conn, "nobody")
    assert revoked.value.code == "conflict.user_revoked"


def test_last_use_is_written_at_most_once_a_minute(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        user_id, token = create_user(conn, name="scanner", role=Role.OFFICER, now=NOW)
    times = [NOW + timedelta(seconds=s) for s in (5, 20, 59, 70, 90, 200)]
    written = []
    for at in times:
        with sqlite_node.engine.connect() as conn:
            found = identify(conn, token, now=at)
        if found.stale_use:
            with write(sqlite_node.engine) as conn:
                record_use(conn, user_id, now=at)
            written.append(at)
    assert written == [times[0], times[3], times[5]], "one write for the first call, then one a minute at most"
    with sqlite_node.engine.connect() as conn:
        last = conn.execute(sa.select(users.c.token_last_used_at).where(users.c.id == user_id)).scalar_one()
    assert last == times[5].replace(second=0) and NOW + timedelta(seconds=200) - last < USE_PRECISION


def test_a_call_over_http_shows_as_the_tokens_last_use(live: LiveApi) -> None:
    with live.node.engine.connect() as conn:
        assert next(u for u in list_users(conn) if u["name"] == "officer")["token_last_used_at"] is None
    with live.client("officer") as http:
        assert http.get("/declarations").status_code == 200
        assert http.get("/declarations").status_code == 200
    with live.node.engine.connect() as conn:
        used = next(u for u in list_users(conn) if u["name"] == "officer")["token_last_used_at"]
    assert used is not None and datetime.now(timezone.utc) - used < timedelta(minutes=2)


def test_the_command_line_rotates_a_token_and_lists_expiry_and_last_use(tmp_path: Path) -> None:
    assert run_avance(["init", "--country", "SN"], tmp_path).returncode == 0
    created = run_avance(["users", "create", "--name", "moussa", "--role", "analyst"], tmp_path, AVANCE_TOKEN_DAYS="7")
    assert created.returncode == 0, created.stderr
    first = created.stdout.strip()
    rotated = run_avance(["users", "rotate-token", "--name", "moussa"], tmp_path, AVANCE_TOKEN_DAYS="7")
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip()
    assert second.startswith("avk_") and second != first and "shown only once" in rotated.stderr and "7 days" in rotated.stderr
    engine = make_engine(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}")
    try:
        with engine.connect() as conn:
            assert identify(conn, second).principal.name == "moussa"
            with pytest.raises(Unauthorized):
                identify(conn, first)
            expires = conn.execute(sa.select(users.c.token_expires_at).where(users.c.name == "moussa")).scalar_one()
        assert timedelta(days=6, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=7)
    finally:
        engine.dispose()
    listed = run_avance(["users", "list"], tmp_path, COLUMNS="250")
    assert listed.returncode == 0, listed.stderr
    assert "token expires" in listed.stdout and "token last used" in listed.stdout
    assert expires.strftime("%Y-%m-%dT%H:%M") in listed.stdout
    missing = run_avance(["users", "rotate-token", "--name", "nobody"], tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_the_upgrade_gives_tokens_issued_before_it_an_expiry(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'old.db').as_posix()}")
    try:
        upgrade(engine, "0016")
        recent = datetime.now(timezone.utc) - timedelta(days=10)
        ancient = datetime.now(timezone.utc) - timedelta(days=400)
        old_users = sa.table(
            "users", sa.column("name"), sa.column("role"), sa.column("token_hash"), sa.column("active"), sa.column("created_at"), sa.column("failed_sign_ins")
        )
        with engine.begin() as conn:
            for name, created in (("recent", recent), ("ancient", ancient)):
                conn.execute(
                    sa.insert(old_users).values(
                        name=name, role="analyst", token_hash=name.ljust(64, "0"), active=True, created_at=created.replace(tzinfo=None), failed_sign_ins=0
                    )
                )
        upgraded_at = datetime.now(timezone.utc)
        upgrade(engine, "0017")
        with engine.connect() as conn:
            expiry = dict(conn.execute(sa.select(users.c.name, users.c.token_expires_at)).all())
    finally:
        engine.dispose()
    assert abs(expiry["recent"] - (recent + timedelta(days=90))) < timedelta(seconds=1), "90 days after it was issued"
    assert timedelta(days=30) <= expiry["ancient"] - upgraded_at < timedelta(days=30, minutes=1), "long past 90 days: 30 days to rotate it"
