"""What every page shares: the signed-in user (a server-side session behind an HttpOnly cookie),
the language, rendering a template, the form token against cross-site request forgery, form
errors beside their fields, and errors shown as a page rather than problem+json.

A page route declares ``Page`` (any signed-in user) or ``PageFor(Action.X)`` (a user whose role
may do X, by the one role table) and renders with ``render``. A form handler reads its fields
with ``form(request, user)``, which refuses a post without the session's token (403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from avance import __version__
from avance.auth.access import Action, may
from avance.auth.model import Principal
from avance.auth.sessions import NeedsWrite, Session, csrf_matches, resume
from avance.kit import formatting
from avance.kit.errors import Forbidden, Issue, Unauthorized
from avance.kit.i18n import LANGUAGES, negotiate, t
from avance.store.engine import write

SESSION_COOKIE = "avance_session"
LANG_COOKIE = "avance_lang"


def page_language(request: Request) -> str:
    """The user's choice (the language switch's cookie), then ``Accept-Language``, then French."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen  # type: ignore[return-value]
    return negotiate(request.headers.get("accept-language"), request.app.state.node.settings.lang)


@dataclass
class PageUser:
    """The signed-in user of a page: who, the session's form token, the language."""

    principal: Principal
    csrf: str
    lang: str

    def may(self, action: Action) -> bool:
        return may(self.principal, action)


class SignInNeeded(Exception):
    """No valid session: the page sends the browser to the sign-in page."""


def _use_page_errors(request: Request) -> None:
    request.scope.setdefault("state", {})["page_errors"] = render_error


def signed_in(request: Request) -> PageUser:
    """The user of the session cookie (the session marked as used), or the sign-in page."""
    _use_page_errors(request)
    node = request.app.state.node
    idle = timedelta(minutes=node.settings.session_idle_minutes)
    cookie, now = request.cookies.get(SESSION_COOKIE), datetime.now(timezone.utc)
    try:
        try:
            with node.engine.connect() as conn:
                session: Session = resume(conn, cookie, now=now, idle=idle, read_only=True)
        except NeedsWrite:  # mark it as used, or end it: the one case that writes
            with write(node.engine) as conn:
                session = resume(conn, cookie, now=now, idle=idle)
    except Unauthorized:
        raise SignInNeeded() from None
    principal = replace(session.principal, via="session", address=request.client.host if request.client else None)
    return PageUser(principal=principal, csrf=session.csrf, lang=page_language(request))


Page = Annotated[PageUser, Depends(signed_in)]


@dataclass(frozen=True)
class _Allowed:
    action: Action

    def __call__(self, user: Page) -> PageUser:
        if not user.may(self.action):
            raise Forbidden("forbidden.role", role=user.principal.role.value)
        return user


def PageFor(action: Action) -> Any:  # noqa: N802  (used as a type: Annotated[PageUser, PageFor(...)])
    """The signed-in user, who must hold a role allowed to do ``action`` (a 403 page otherwise)."""
    return Depends(_Allowed(action))


def public_page(request: Request) -> str:
    """For pages without sign-in (sign-in, gate verification): errors as pages; the language."""
    _use_page_errors(request)
    return page_language(request)


PublicPage = Annotated[str, Depends(public_page)]


# --- forms -----------------------------------------------------------------------------------


async def form(request: Request, user: PageUser) -> dict[str, str]:
    """The fields of a posted form, after checking its ``csrf`` field against the session's token
    (403 ``forbidden.csrf`` otherwise). Repeated fields are joined with newlines."""
    data = await request.form()
    if not csrf_matches(Session(principal=user.principal, csrf=user.csrf), data.get("csrf")):  # type: ignore[arg-type]
        raise Forbidden("forbidden.csrf")
    fields: dict[str, str] = {}
    for key in data.keys():
        values = [v for v in data.getlist(key) if isinstance(v, str)]
        fields[key] = "\n".join(values)
    fields.pop("csrf", None)
    return fields


@dataclass
class FormState:
    """What a form shows again after bad input: what was typed, and every error beside its field
    (the field named by the error's pointer; errors without a field are shown above the form)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @classmethod
    def from_issues(cls, values: Mapping[str, Any], issues: list[Issue], lang: str, fields: Mapping[str, str] | None = None) -> "FormState":
        """``fields`` maps a pointer's first segment to the form field it belongs to, when they differ."""
        state = cls(values=dict(values))
        for issue in issues:
            message = t(issue.code, lang, **issue.params)
            name = issue.pointer.strip("/").split("/")[0] if issue.pointer else ""
            name = (fields or {}).get(name, name)
            if name and name in values:
                state.errors.setdefault(name, []).append(message)
            elif name and fields and name in fields.values():
                state.errors.setdefault(name, []).append(message)
            else:
                state.general.append(message)
        return state

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.general)


# --- rendering -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("avance.web", "templates"),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["version"] = __version__
    return env


class Formatter:
    """The numbers, money, dates and words of one language, for templates (``fmt.money(...)``)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def number(self, value: Decimal | int | float | None, digits: int | None = None) -> str:
        return "" if value is None else formatting.number(value, self.lang, digits)

    def percent(self, share: Decimal | int | float | None, digits: int = 1) -> str:
        return "" if share is None else formatting.percent(share, self.lang, digits)

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        return "" if amount is None or currency is None else formatting.money(Decimal(amount), currency, self.lang)

    def date(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return value.isoformat()

    def day(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return (value.date() if isinstance(value, datetime) else value).isoformat()

    def hours(self, seconds: float | int | None) -> str:
        """A duration in hours, one decimal (release times)."""
        return "" if seconds is None else formatting.number(Decimal(str(round(float(seconds) / 3600, 1))), self.lang, 1)


def render(request: Request, template: str, user: PageUser | None, *, lang: str | None = None, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    """Render ``template`` for ``user`` (None on public pages) in the page's language. Templates get
    ``_`` (a catalog message), ``fmt`` (numbers, money, dates), ``user``, ``csrf``, ``lang``,
    ``path`` (for the language switch) and ``may`` (whether the user's role may do an action)."""
    lang = lang or (user.lang if user is not None else page_language(request))

    def _(key: str, **params: Any) -> str:
        return t(key, lang, **params)

    body = environment().get_template(template).render(
        _=_,
        fmt=Formatter(lang),
        user=user,
        csrf=user.csrf if user is not None else "",
        lang=lang,
        other_lang="en" if lang == "fr" else "fr",
        path=request.url.path + (("?" + request.url.query) if request.url.query else ""),
        may=(lambda action: user.may(Action(action))) if user is not None else (lambda action: False),
        **context,
    )
    return HTMLResponse(body, status_code=status, headers={"Content-Language": lang, "Cache-Control": "no-store", **(headers or {})})


def render_error(request: Request, status: int, code: str, detail: str, lang: str, errors: list[dict[str, Any]]) -> Response:
    """An error met on a page, as a page: the title of its status and what went wrong."""
    if status == 401:
        return sign_in_redirect(request)
    lang = page_language(request)
    return render(request, "error.html", None, lang=lang, status=status, title=t(_title_key(status), lang), detail=detail, errors=errors)


def _title_key(status: int) -> str:
    return {403: "error.forbidden", 404: "error.not_found", 409: "error.conflict", 413: "error.generic", 422: "http.title.validation"}.get(
        status, "error.generic" if status < 500 else "error.internal"
    )


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (("?" + request.url.query) if request.url.query else "")
    suffix = "" if target in ("/", "/signin") or request.method != "GET" else "?next=" + quote(target, safe="")
    return RedirectResponse("/signin" + suffix, status_code=303)


def local_target(value: str | None, default: str = "/") -> str:
    """A redirect target from a form or query: a path of this node only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def svg(markup: str) -> Markup:
    """Chart markup drawn by ``avance.reports`` (escaped there), to embed in a template as it is."""
    return Markup(markup)


Handler = Callable[..., Any]
