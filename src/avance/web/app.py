"""The pages of a node: sign-in and sign-out, the language switch, each user's home, the shipped
assets, and the routers of the officer, analyst and declarant pages."""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from avance.auth.model import Role
from avance.auth.sessions import CODE_STEP, give_code, half_open, sign_in, sign_out
from avance.auth.totp import enrolment_uri, sealer
from avance.kit.errors import Forbidden, Unauthorized
from avance.kit.i18n import LANGUAGES, t
from avance.store.engine import write
from avance.web.analyst import router as analyst_router
from avance.web.dashboards import router as dashboards_router
from avance.web.broker import router as broker_router
from avance.web.officer import router as officer_router
from avance.web.kit import LANG_COOKIE, SESSION_COOKIE, Page, PublicPage, SignInNeeded, form, local_target, render, see_other, sign_in_redirect

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

HOMES: dict[Role, str] = {
    Role.OFFICER: "/queue",
    Role.ANALYST: "/analysis",
    Role.ADMIN: "/analysis",
    Role.DECLARANT: "/my/declarations",
    Role.CARRIER: "/account",
}
"""Where each role starts (``/`` sends there): an officer's home is the queue of its offices."""

PAGE_ROUTERS: list[APIRouter] = [router, analyst_router, dashboards_router, officer_router, broker_router]
"""Every router of pages, included by ``install``."""


def install(app: Any) -> None:
    """Add the pages and their assets to the node's application."""
    app.mount("/static", StaticFiles(directory=str(resources.files("avance.web") / "static")), name="static")
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)

    @app.exception_handler(SignInNeeded)
    async def _sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        return sign_in_redirect(request)


def _cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


@router.get("/")
def home(user: Page) -> Response:
    return see_other(HOMES.get(user.principal.role, "/account"))


@router.get("/signin")
def sign_in_page(request: Request, lang: PublicPage, next: str | None = None) -> Response:  # noqa: A002  (the query's name)
    return render(request, "signin.html", None, lang=lang, next=local_target(next, ""), values={}, failed=None)


@router.post("/signin")
async def sign_in_post(request: Request, lang: PublicPage) -> Response:
    data = await request.form()
    username = str(data.get("username") or "")[:70]
    password = str(data.get("password") or "")[:256]
    target = local_target(str(data.get("next") or ""), "/")
    node = request.app.state.node
    signed, refused = _attempt(
        node.engine, lambda conn: sign_in(conn, username, password, now=datetime.now(timezone.utc), require_totp=node.settings.require_totp, sealer=sealer(node.settings.data_dir))
    )
    if refused is not None:
        message = t(refused.code, lang, **refused.params)
        return render(request, "signin.html", None, lang=lang, status=401, next=target if target != "/" else "", values={"username": username}, failed=message)
    if signed.step is not None:  # half-open: the second factor's step next
        response = see_other(_second_step(signed.step, target))
    else:
        response = see_other(target)
    response.set_cookie(SESSION_COOKIE, signed.cookie, **_cookie_options(request))
    return response


def _attempt(engine: Any, step: Callable[[Any], T]) -> tuple[Any, Unauthorized | None]:
    """Run a sign-in step in one transaction that is committed even when the step refuses: the
    wrong password or code it counted, the expired session it ended, stay so (an error would roll
    them back)."""
    with write(engine) as conn:
        try:
            return step(conn), None
        except Unauthorized as exc:
            return None, exc


def _second_step(step: str, target: str) -> str:
    page = "/signin/code" if step == CODE_STEP else "/signin/totp-setup"
    return page + ("" if target == "/" else "?next=" + quote(target, safe=""))


@router.get("/signin/code")
@router.get("/signin/totp-setup")
def second_factor_page(request: Request, lang: PublicPage, next: str | None = None) -> Response:  # noqa: A002  (the query's name)
    """The second step of a sign-in: the code of the user's authenticator, or, to enrol one, the
    new secret to enter in it and its first code."""
    node = request.app.state.node
    pending, refused = _attempt(node.engine, lambda conn: half_open(conn, request.cookies.get(SESSION_COOKIE), now=datetime.now(timezone.utc), sealer=sealer(node.settings.data_dir)))
    if refused is not None:
        return see_other("/signin")
    return _second_factor(request, lang, pending, local_target(next, ""), failed=None)


def _second_factor(request: Request, lang: str, pending: Any, target: str, *, failed: str | None, status: int = 200) -> Response:
    if pending.step == CODE_STEP:
        return render(request, "totp.html", None, lang=lang, status=status, next=target, form_token=pending.csrf, failed=failed)
    issuer = f"Avance {request.app.state.node.context.country}"
    return render(
        request, "totp_setup.html", None, lang=lang, status=status, next=target, form_token=pending.csrf, failed=failed,
        secret=pending.setup_secret, uri=enrolment_uri(pending.setup_secret, pending.name, issuer), name=pending.name,
    )


@router.post("/signin/code")
async def second_factor_post(request: Request, lang: PublicPage) -> Response:
    """The second factor's code (enrolment included): the session opens under a new cookie."""
    data = await request.form()
    code = str(data.get("code") or "")[:16]
    target = local_target(str(data.get("next") or ""), "/")
    node = request.app.state.node
    cookie = request.cookies.get(SESSION_COOKIE)
    now = datetime.now(timezone.utc)
    pending, refused = _attempt(node.engine, lambda conn: half_open(conn, cookie, now=now, sealer=sealer(node.settings.data_dir)))
    if refused is not None:
        return see_other("/signin")
    if not hmac.compare_digest(pending.csrf.encode(), str(data.get("csrf") or "").encode()):
        raise Forbidden("forbidden.csrf")
    signed, refused = _attempt(node.engine, lambda conn: give_code(conn, cookie, code, now=now, sealer=sealer(node.settings.data_dir)))
    if refused is not None:
        if refused.code == "unauthorized.session":
            return see_other("/signin")
        return _second_factor(request, lang, pending, target if target != "/" else "", failed=t(refused.code, lang, **refused.params), status=401)
    response = see_other(target)
    response.set_cookie(SESSION_COOKIE, signed.cookie, **_cookie_options(request))
    return response


@router.post("/signout")
async def sign_out_post(request: Request, user: Page) -> Response:
    await form(request, user)
    with write(request.app.state.node.engine) as conn:
        sign_out(conn, request.cookies.get(SESSION_COOKIE))
    response = see_other("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str | None = None) -> Response:  # noqa: A002
    response = see_other(local_target(next, "/"))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, **_cookie_options(request))
    return response


@router.get("/account")
def account(request: Request, user: Page) -> Response:
    return render(request, "account.html", user)
