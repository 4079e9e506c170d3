"""A second factor for administrators and analysts signing in to the pages: after the password, a
six-digit code from an authenticator (TOTP), each code used once, wrong codes slowing the account
down like wrong passwords; where the node requires it, an administrator or analyst without one
enrols at the next sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from avance.auth import totp
from avance.auth.model import Role
from avance.auth.service import create_user, list_users
from avance.auth.sessions import FREE_ATTEMPTS, HALF_OPEN, enrol_totp, give_code, resume, set_password, sign_in
from avance.auth.tables import users
from avance.bootstrap import Node
from avance.kit.errors import NotReady, Unauthorized
from avance.store.engine import make_engine, write
from tests.support import LiveApi, make_node, run_avance, serve

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 6, 9, 0, 10, tzinfo=timezone.utc)


def seal(node: Node) -> totp.Sealer:
    """The node's sealer, as its pages and command line use it."""
    return totp.sealer(node.settings.data_dir)


def _people(node: Node) -> str:
    """An enrolled administrator, an analyst and an officer without a second factor; the admin's secret."""
    with write(node.engine) as conn:
        for name, role in (("aminata", Role.ADMIN), ("ibrahim", Role.ANALYST), ("awa", Role.OFFICER)):
            create_user(conn, name=name, role=role)
            set_password(conn, name, PASSWORD)
        secret, _ = enrol_totp(conn, "aminata", issuer="Avance SN", sealer=seal(node))
    return secret


def test_an_enrolled_user_gets_a_half_open_session_that_opens_with_the_code(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    secret = _people(sqlite_node)
    with write(sqlite_node.engine) as conn:
        half = sign_in(conn, "aminata", PASSWORD, now=NOW)
    assert half.step == "totp"
    with write(sqlite_node.engine) as conn, pytest.raises(Unauthorized):
        resume(conn, half.cookie, now=NOW)  # the password alone opens no page
    with write(sqlite_node.engine) as conn:
        opened = give_code(conn, half.cookie, totp.code_at(secret, NOW), now=NOW + timedelta(seconds=5), sealer=seal(sqlite_node))
    assert opened.cookie != half.cookie, "a new cookie once the second factor is given"
    with write(sqlite_node.engine) as conn:
        assert resume(conn, opened.cookie, now=NOW + timedelta(seconds=6)).principal.name == "aminata"
        with pytest.raises(Unauthorized):
            resume(conn, half.cookie, now=NOW + timedelta(seconds=6))


def test_a_code_is_used_once_and_only_around_its_time(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    secret = _people(sqlite_node)
    code = totp.code_at(secret, NOW)
    with write(sqlite_node.engine) as conn:
        give_code(conn, sign_in(conn, "aminata", PASSWORD, now=NOW).cookie, code, now=NOW, sealer=seal(sqlite_node))
    with write(sqlite_node.engine) as conn:
        again = sign_in(conn, "aminata", PASSWORD, now=NOW + timedelta(seconds=10))
    with pytest.raises(Unauthorized) as replayed, write(sqlite_node.engine) as conn:
        give_code(conn, again.cookie, code, now=NOW + timedelta(seconds=10), sealer=seal(sqlite_node))
    assert replayed.value.code == "unauthorized.totp"
    assert totp.accepted_step(secret, totp.code_at(secret, NOW - timedelta(minutes=3)), now=NOW, last_step=None) is None, "an old code"
    assert totp.accepted_step(secret, totp.code_at(secret, NOW + timedelta(seconds=30)), now=NOW, last_step=None) is not None, "a clock 30 s ahead"
    assert totp.accepted_step(secret, "12345", now=NOW, last_step=None) is None


def test_wrong_codes_slow_the_account_down_and_the_password_alone_does_not_clear_them(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    secret = _people(sqlite_node)
    right = totp.code_at(secret, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with write(sqlite_node.engine) as conn:
        for attempt in range(FREE_ATTEMPTS):
            cookie = sign_in(conn, "aminata", PASSWORD, now=NOW).cookie  # a right password each time
            with pytest.raises(Unauthorized) as refused:
                give_code(conn, cookie, wrong, now=NOW, sealer=seal(sqlite_node))
            assert refused.value.code == "unauthorized.totp", attempt
        with pytest.raises(Unauthorized) as waiting:
            give_code(conn, cookie, right, now=NOW, sealer=seal(sqlite_node))
        assert waiting.value.code == "unauthorized.slow_down", "even the right code waits"
        with pytest.raises(Unauthorized) as password_waits:
            sign_in(conn, "aminata", PASSWORD, now=NOW)
        assert password_waits.value.code == "unauthorized.slow_down"
    later = NOW + timedelta(seconds=5)
    with write(sqlite_node.engine) as conn:
        opened = give_code(conn, sign_in(conn, "aminata", PASSWORD, now=later).cookie, totp.code_at(secret, later), now=later, sealer=seal(sqlite_node))
    assert opened.principal.name == "aminata"
    with sqlite_node.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_sign_ins).where(users.c.name == "aminata")).scalar_one() == 0


def test_a_half_open_session_ends_after_five_minutes(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    secret = _people(sqlite_node)
    late = NOW + HALF_OPEN + timedelta(seconds=1)
    with write(sqlite_node.engine) as conn:
        cookie = sign_in(conn, "aminata", PASSWORD, now=NOW).cookie
    with pytest.raises(Unauthorized) as ended, write(sqlite_node.engine) as conn:
        give_code(conn, cookie, totp.code_at(secret, late), now=late, sealer=seal(sqlite_node))
    assert ended.value.code == "unauthorized.session"


def test_where_required_admins_and_analysts_enrol_and_officers_are_not_asked(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    _people(sqlite_node)
    with write(sqlite_node.engine) as conn:
        analyst = sign_in(conn, "ibrahim", PASSWORD, now=NOW, require_totp=True, sealer=seal(sqlite_node))
        officer = sign_in(conn, "awa", PASSWORD, now=NOW, require_totp=True, sealer=seal(sqlite_node))
        unrequired = sign_in(conn, "ibrahim", PASSWORD, now=NOW, require_totp=False)
    assert (analyst.step, officer.step, unrequired.step) == ("totp_setup", None, None)


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    """A node that requires the second factor (the default), served over HTTP."""
    base = make_node(sqlite_url, tmp_path)
    node = Node(base.settings.model_copy(update={"require_totp": True}), base.engine)
    try:
        _people(node)
        yield from serve(node)
    finally:
        node.engine.dispose()


def _browser(site: LiveApi, lang: str = "en") -> httpx.Client:
    return httpx.Client(base_url=site.url, follow_redirects=False, headers={"Accept-Language": lang}, timeout=30)


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_the_pages_ask_an_enrolled_admin_for_the_code_before_anything_opens(site: LiveApi) -> None:
    with site.node.engine.connect() as conn:
        secret = seal(site.node).open(conn.execute(sa.select(users.c.totp_secret).where(users.c.name == "aminata")).scalar_one())
    client = _browser(site, "fr")
    assert client.post("/signin", data={"username": "aminata", "password": "not the password"}).status_code == 401
    with site.node.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_sign_ins).where(users.c.name == "aminata")).scalar_one() == 1, "a wrong password stays counted"
    answer = client.post("/signin", data={"username": "aminata", "password": PASSWORD, "next": "/account"})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin/code?next=%2Faccount"
    assert client.get("/account").headers["location"].startswith("/signin"), "the password alone opens nothing"
    page = client.get("/signin/code?next=%2Faccount")
    assert page.status_code == 200 and "Code de vérification" in page.text
    token = _form_token(page.text)
    wrong = client.post("/signin/code", data={"csrf": token, "code": "000000", "next": "/account"})
    assert wrong.status_code == 401 and "Code incorrect" in unescape(wrong.text)
    with site.node.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_sign_ins).where(users.c.name == "aminata")).scalar_one() == 2, "the wrong code is counted with the wrong password"
    forged = client.post("/signin/code", data={"csrf": "not-the-token", "code": pyotp.TOTP(secret).now(), "next": "/account"})
    assert forged.status_code == 403
    opened = client.post("/signin/code", data={"csrf": token, "code": pyotp.TOTP(secret).now(), "next": "/account"})
    assert opened.status_code == 303 and opened.headers["location"] == "/account"
    account = client.get("/account")
    assert account.status_code == 200 and "aminata" in account.text


def test_the_pages_enrol_an_analyst_without_a_second_factor_at_sign_in(site: LiveApi) -> None:
    client = _browser(site)
    answer = client.post("/signin", data={"username": "ibrahim", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin/totp-setup"
    page = client.get("/signin/totp-setup")
    assert page.status_code == 200 and "second factor" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    assert "otpauth://totp/" in unescape(page.text)
    opened = client.post("/signin/code", data={"csrf": _form_token(page.text), "code": pyotp.TOTP(secret).now()})
    assert opened.status_code == 303 and client.get("/analysis").status_code == 200
    with site.node.engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.totp_secret).where(users.c.name == "ibrahim")).scalar_one()
    assert secret not in stored and seal(site.node).open(stored) == secret, "kept sealed"
    again = _browser(site).post("/signin", data={"username": "ibrahim", "password": PASSWORD})
    assert again.headers["location"] == "/signin/code", "enrolled: the code from now on"
    officer = _browser(site).post("/signin", data={"username": "awa", "password": PASSWORD})
    assert officer.headers["location"] == "/", "officers sign in with their password"


def test_the_command_line_enrols_a_second_factor_and_never_shows_it_again(tmp_path: Path) -> None:
    assert run_avance(["init", "--country", "SN"], tmp_path).returncode == 0
    assert run_avance(["users", "create", "--name", "aminata", "--role", "admin"], tmp_path).returncode == 0
    enrolled = run_avance(["users", "totp", "--name", "aminata"], tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    uri, secret = enrolled.stdout.split()
    assert uri.startswith("otpauth://totp/Avance%20SN:aminata?secret=" + secret) and "shown only once" in enrolled.stderr
    listed = run_avance(["users", "list"], tmp_path, COLUMNS="250")
    assert secret not in listed.stdout and "True" in listed.stdout
    engine = make_engine(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}")
    try:
        with engine.connect() as conn:
            assert all("totp_secret" not in row for row in list_users(conn))
            stored = conn.execute(sa.select(users.c.totp_secret)).scalar_one()
        assert secret not in stored and totp.sealer(tmp_path).open(stored) == secret, "the database holds it sealed only"
    finally:
        engine.dispose()
    missing = run_avance(["users", "totp", "--name", "nobody"], tmp_path)
    assert missing.returncode == 2 and "nobody" in missing.stderr


def test_a_copy_of_the_database_alone_does_not_give_the_codes_away(sqlite_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The secrets are sealed with the node's key, a file beside its exchange keys: a database
    dump, or a server given the database without the node's key folder, cannot make a code; it
    answers 503 saying which file it lacks, and nothing is counted against the user."""
    secret = _people(sqlite_node)
    with sqlite_node.engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.totp_secret).where(users.c.name == "aminata")).scalar_one()
    assert stored.startswith(totp.SEALED) and secret not in stored
    assert (Path(sqlite_node.settings.data_dir) / "exchange-keys" / totp.SEAL_FILE).stat().st_mode & 0o077 == 0, "readable by the node's user only"
    stranger = totp.sealer(tmp_path / "another-host")
    with write(sqlite_node.engine) as conn:
        cookie = sign_in(conn, "aminata", PASSWORD, now=NOW).cookie
    with pytest.raises(NotReady) as unreadable, write(sqlite_node.engine) as conn:
        give_code(conn, cookie, totp.code_at(secret, NOW), now=NOW, sealer=stranger)
    assert unreadable.value.code == "identity.totp_key" and unreadable.value.status == 503
    with write(sqlite_node.engine) as conn:
        assert give_code(conn, cookie, totp.code_at(secret, NOW), now=NOW, sealer=seal(sqlite_node)).principal.name == "aminata"


def test_a_secret_stored_before_sealing_still_opens_and_is_sealed_at_the_next_code(sqlite_node) -> None:  # type: ignore[no-untyped-def]
    secret = _people(sqlite_node)
    with write(sqlite_node.engine) as conn:  # as an upgraded node holds it
        conn.execute(sa.update(users).where(users.c.name == "aminata").values(totp_secret=secret))
        cookie = sign_in(conn, "aminata", PASSWORD, now=NOW).cookie
        give_code(conn, cookie, totp.code_at(secret, NOW), now=NOW, sealer=seal(sqlite_node))
        stored = conn.execute(sa.select(users.c.totp_secret).where(users.c.name == "aminata")).scalar_one()
    assert stored.startswith(totp.SEALED) and seal(sqlite_node).open(stored) == secret


def test_processes_starting_at_once_share_one_sealing_key(tmp_path: Path) -> None:
    """Each process makes the key when it finds none: the first one linked is the one all keep."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        sealed = list(pool.map(_seal_in_a_process, [str(tmp_path)] * 4))
    opener = totp.sealer(tmp_path)
    assert [opener.open(value) for value in sealed] == ["JBSWY3DPEHPK3PXP"] * 4
    assert sorted(p.name for p in (tmp_path / "exchange-keys").iterdir()) == [totp.SEAL_FILE], "no draft left behind"


def _seal_in_a_process(data_dir: str) -> str:
    return totp.sealer(data_dir).seal("JBSWY3DPEHPK3PXP")
