"""People sign in to the pages with a password: Argon2 hashes, sessions kept on the server behind
an HttpOnly, SameSite=Strict cookie, ended by sign-out, idle time, revocation or a new password;
five wrong passwords in a row slow the account down; every form carries the session's token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from avance.auth.model import Role
from avance.auth.service import authenticate, create_user, revoke_user
from avance.auth.sessions import FREE_ATTEMPTS, resume, set_offices, set_password, sign_in, wait_after
from avance.auth.tables import users
from avance.kit.errors import NotFound, Unauthorized, ValidationFailed
from avance.store.engine import write
from tests.support import LiveApi, serve

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def site(sqlite_node) -> Iterator[LiveApi]:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        create_user(conn, name="awa", role=Role.OFFICER)
        set_password(conn, "awa", PASSWORD)
        set_offices(conn, "awa", ["SN-DKR-PORT"])
    yield from serve(sqlite_node)


def browser(site: LiveApi) -> httpx.Client:
    return httpx.Client(base_url=site.url, follow_redirects=False, headers={"Accept-Language": "fr"})


def signed_in(site: LiveApi, password: str = PASSWORD) -> httpx.Client:
    client = browser(site)
    answer = client.post("/signin", data={"username": "awa", "password": password})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/account")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_an_unsigned_visitor_is_led_to_the_sign_in_page(site: LiveApi) -> None:
    client = browser(site)
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/signin"
    page = client.get("/account")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Faccount"
    form = client.get("/signin")
    assert form.status_code == 200 and 'name="username"' in form.text and 'name="password"' in form.text


def test_signing_in_opens_a_server_side_session_behind_a_strict_http_only_cookie(site: LiveApi) -> None:
    client = browser(site)
    answer = client.post("/signin", data={"username": "awa", "password": PASSWORD, "next": "/account"})
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    cookie = answer.headers["set-cookie"]
    assert "avance_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    account = client.get("/account")
    assert account.status_code == 200 and "SN-DKR-PORT" in account.text
    assert client.get("/").headers["location"] == "/queue", "an officer's home is the queue"


def test_a_wrong_password_is_refused_without_saying_whether_the_name_exists(site: LiveApi) -> None:
    client = browser(site)
    wrong = client.post("/signin", data={"username": "awa", "password": "not the password"})
    unknown = client.post("/signin", data={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Nom d'utilisateur ou mot de passe incorrect" in wrong.text.replace("&#39;", "'")
    assert "Nom d'utilisateur ou mot de passe incorrect" in unknown.text.replace("&#39;", "'")
    assert 'value="awa"' in wrong.text, "the name typed is kept"
    assert "avance_session" not in wrong.headers.get("set-cookie", "")


def test_a_redirect_after_sign_in_never_leaves_the_node(site: LiveApi) -> None:
    answer = browser(site).post("/signin", data={"username": "awa", "password": PASSWORD, "next": "//evil.example/x"})
    assert answer.headers["location"] == "/"


def test_signing_out_ends_the_session_on_the_server(site: LiveApi) -> None:
    client = signed_in(site)
    cookie = client.cookies.get("avance_session")
    out = client.post("/signout", data={"csrf": csrf_of(client)})
    assert out.status_code == 303
    replay = browser(site)
    replay.cookies.set("avance_session", cookie)
    assert replay.get("/account").status_code == 303, "the old cookie opens nothing"


def test_a_form_without_the_sessions_token_is_refused(site: LiveApi) -> None:
    client = signed_in(site)
    forged = client.post("/signout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert "formulaire a expiré" in forged.text
    assert client.get("/account").status_code == 200, "the session is still open"


def test_revoking_the_user_or_changing_the_password_ends_its_sessions(site: LiveApi) -> None:
    first = signed_in(site)
    with write(site.node.engine) as conn:
        set_password(conn, "awa", "a brand new password")
    assert first.get("/account").status_code == 303
    second = signed_in(site, "a brand new password")
    with write(site.node.engine) as conn:
        revoke_user(conn, "awa")
    assert second.get("/account").status_code == 303
    assert browser(site).post("/signin", data={"username": "awa", "password": "a brand new password"}).status_code == 401


def test_five_wrong_passwords_in_a_row_slow_the_account_down(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        create_user(conn, name="awa", role=Role.OFFICER)
        set_password(conn, "awa", PASSWORD)
        for attempt in range(FREE_ATTEMPTS):
            with pytest.raises(Unauthorized) as refused:
                sign_in(conn, "awa", "wrong password", now=NOW)
            assert refused.value.code == "unauthorized.sign_in", attempt
        with pytest.raises(Unauthorized) as slowed:  # even the right password must wait now
            sign_in(conn, "awa", PASSWORD, now=NOW)
        assert slowed.value.code == "unauthorized.slow_down"
        later = NOW + wait_after(FREE_ATTEMPTS) + timedelta(seconds=1)
        assert sign_in(conn, "awa", PASSWORD, now=later).principal.name == "awa"
        row = conn.execute(select(users.c.failed_sign_ins, users.c.sign_in_blocked_until).where(users.c.name == "awa")).one()
        assert row == (0, None), "a good password starts the count again"
    assert [wait_after(n).total_seconds() for n in range(4, 9)] == [0, 1, 2, 4, 8]
    assert wait_after(100) == timedelta(minutes=15)


def test_an_idle_session_ends(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        create_user(conn, name="awa", role=Role.OFFICER)
        set_password(conn, "awa", PASSWORD)
        opened = sign_in(conn, "awa", PASSWORD, now=NOW)
        assert resume(conn, opened.cookie, now=NOW + timedelta(minutes=29)).principal.name == "awa"
        with pytest.raises(Unauthorized):
            resume(conn, opened.cookie, now=NOW + timedelta(minutes=29 + 31))


def test_passwords_are_kept_as_argon2_hashes_and_must_be_long_enough(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        create_user(conn, name="awa", role=Role.ANALYST)
        set_password(conn, "awa", PASSWORD)
        stored = conn.execute(select(users.c.password_hash).where(users.c.name == "awa")).scalar_one()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        with pytest.raises(ValidationFailed):
            set_password(conn, "awa", "short")
        with pytest.raises(NotFound):
            set_password(conn, "nobody", PASSWORD)


def test_the_offices_a_user_works_at_come_with_its_token_too(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    with write(sqlite_node.engine) as conn:
        _, token = create_user(conn, name="awa", role=Role.OFFICER)
        set_offices(conn, "awa", ["sn-dss-air", "SN-DKR-PORT", "SN-DKR-PORT"])
        assert authenticate(conn, token).offices == ("SN-DKR-PORT", "SN-DSS-AIR")


def test_the_command_line_sets_a_password_read_from_standard_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG="en")

    def avance(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "avance", *args], input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    assert avance("init", "--country", "SN").returncode == 0
    created = avance("users", "create", "--name", "awa", "--role", "officer", "--password", "--office", "SN-DKR-PORT", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    short = avance("users", "set-password", "--name", "awa", stdin="short\n")
    assert short.returncode == 2 and len(short.stderr.strip().splitlines()) == 1 and "between 10 and 256" in short.stderr
    changed = avance("users", "set-password", "--name", "awa", stdin="another long password\n")
    assert changed.returncode == 0, changed.stderr
