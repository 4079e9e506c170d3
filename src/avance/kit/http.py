"""What every HTTP route shares: the node it serves, the caller's language, problem+json errors.

The caller (who is calling, and may they) is ``avance.auth.api``'s; the application that puts a
node in ``app.state.node`` is ``avance.entrypoints.http``'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from avance.kit.errors import AvanceError, Issue, ValidationFailed
from avance.kit.i18n import negotiate, t
from avance.store.engine import unstorable_text
from avance.kit.validation import issues_from_errors

log = logging.getLogger("avance.kit.http")
PROBLEM = "application/problem+json"


if TYPE_CHECKING:
    from sqlalchemy import Engine

    from avance.kit.settings import Settings


class ServedNode(Protocol):
    """What a route sees of the node it serves (``avance.bootstrap.Node``): its settings, its
    database engine, its context (reference data and risk engine) and its reload functions."""

    settings: "Settings"
    engine: "Engine"
    context: Any
    handlers: Any

    def reload(self) -> None: ...

    def reload_valuation(self) -> None: ...

    def reload_profiles(self) -> None: ...


def node(request: Request) -> ServedNode:
    return request.app.state.node


def language(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.app.state.node.settings.lang)


Lang = Annotated[str, Depends(language)]
NodeDep = Annotated[ServedNode, Depends(node)]


def problem(request: Request, status: int, code: str, detail: str, lang: str, *, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:avance:problem:{code}",
        "title": t(_title_key(status), lang),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers={"Content-Language": lang, **(headers or {})})


def _title_key(status: int) -> str:
    return {
        401: "error.unauthorized",
        503: "error.unavailable",
        403: "error.forbidden",
        404: "error.not_found",
        405: "error.method_not_allowed",
        409: "error.conflict",
        413: "error.generic",
        422: "error.validation",
    }.get(status, "error.generic" if status < 500 else "error.internal")


def _lang(request: Request) -> str:
    try:
        return language(request)
    except Exception:  # the node itself may be what failed
        return negotiate(request.headers.get("accept-language"))


def _issue_dicts(issues: list[Issue], lang: str) -> list[dict[str, Any]]:
    return [issue.to_dict(lang) for issue in issues]


def install_error_handlers(app: Any) -> None:
    @app.exception_handler(ValidationFailed)
    async def _validation_failed(request: Request, exc: ValidationFailed) -> JSONResponse:
        lang = _lang(request)
        return problem(request, 422, "validation", exc.message(lang), lang, errors=_issue_dicts(exc.issues, lang))

    @app.exception_handler(AvanceError)
    async def _avance_error(request: Request, exc: AvanceError) -> JSONResponse:
        lang = _lang(request)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status >= 500:
            log.error("node error %s %s", exc.code, exc.params)
        return problem(request, exc.status, exc.code, exc.message(lang), lang, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = _lang(request)
        errors = []
        for error in exc.errors():
            where = tuple(error.get("loc", ()))
            issue = issues_from_errors([error], strip_prefix=where[:1])[0]
            entry = issue.to_dict(lang)
            if where[:1] != ("body",):  # a query, path or header parameter
                entry.pop("pointer")
                entry["parameter"] = ".".join(str(p) for p in where[1:])
            errors.append(entry)
        return problem(request, 422, "validation", t("error.validation", lang, count=len(errors)), lang, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = _lang(request)
        if exc.status_code == 400:  # FastAPI could not even decode the body (not UTF-8 JSON)
            issue = Issue("", "schema.json_invalid", {})
            return problem(request, 422, "validation", t("error.validation", lang, count=1), lang, errors=[issue.to_dict(lang)])
        code = {404: "not_found.route", 405: "error.method_not_allowed", 413: "error.payload_too_large"}.get(exc.status_code, "error.generic")
        return problem(request, exc.status_code, code, t(code, lang, limit=MAX_BODY), lang)

    @app.exception_handler(OperationalError)
    async def _store_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0] if str(exc) else exc)
        lang = _lang(request)
        return problem(request, 503, "unavailable", t("error.unavailable", lang), lang, headers={"Retry-After": "10"})

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        lang = _lang(request)
        if unstorable_text(exc):  # e.g. a NUL character, which PostgreSQL cannot keep in text or JSON
            issue = Issue("", "error.unstorable_text", {})
            return problem(request, 422, "validation", t("error.validation", lang, count=1), lang, errors=[issue.to_dict(lang)])
        log.error("data error on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0] if str(exc) else exc)
        return problem(request, 500, "internal", t("error.internal", lang), lang)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        lang = _lang(request)
        return problem(request, 500, "internal", t("error.internal", lang), lang)


MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted (a declaration of 999 items stays far below it)."""
