"""What every HTTP route shares: the node it serves, the caller's language, problem+json errors,
how they are documented, and how a resource chooses its representation.

Done once here so that every capability's routes behave and are described alike: an error is an
RFC 9457 ``application/problem+json`` body whatever raised it, the OpenAPI document says so for
every operation (``document_problems``), and a resource that exists in another form than JSON
(a CSV or YAML file analysts keep) is chosen by one rule (``representation``).

The caller (who is calling, and may they) is ``avance.auth.api``'s; the application that puts a
node in ``app.state.node`` is ``avance.entrypoints.http``'s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import mimeparse
from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from avance.kit.errors import AvanceError, Issue, ValidationFailed
from avance.kit.i18n import negotiate, t
from avance.kit.ratelimit import Buckets, retry_after
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


def problem(request: Request, status: int, code: str, detail: str, lang: str, *, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    """The problem+json answer of an error; on a page (whose dependency set
    ``request.state.page_errors``), that page's own rendering of it instead."""
    page_errors = request.scope.get("state", {}).get("page_errors")
    if page_errors is not None:
        return page_errors(request, status, code, detail, lang, errors or [])
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
        503: "http.title.unavailable",
        403: "error.forbidden",
        404: "error.not_found",
        405: "error.method_not_allowed",
        406: "http.title.not_acceptable",
        409: "error.conflict",
        413: "error.generic",
        415: "http.title.unsupported_media_type",
        422: "http.title.validation",
        429: "http.title.too_many_requests",
    }.get(status, "error.generic" if status < 500 else "error.internal")


def _lang(request: Request) -> str:
    try:
        return language(request)
    except Exception:  # the node itself may be what failed
        return negotiate(request.headers.get("accept-language"))


def _not_json(request: Request) -> str | None:
    """The media type of a body that FastAPI does not read as JSON (it reads ``application/json``,
    ``application/*+json`` and a body without a type), or None."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return None
    try:
        main, subtype, _ = mimeparse.parse_mime_type(content_type)
    except mimeparse.MimeTypeParseException:
        return content_type[:100]
    if main == "application" and (subtype == "json" or subtype.endswith("+json")):
        return None
    return f"{main}/{subtype}"


def _issue_dicts(issues: list[Issue], lang: str) -> list[dict[str, Any]]:
    return [issue.to_dict(lang) for issue in issues]


def install_error_handlers(app: Any) -> None:
    @app.exception_handler(ValidationFailed)
    async def _validation_failed(request: Request, exc: ValidationFailed) -> Response:
        lang = _lang(request)
        return problem(request, 422, "validation", exc.message(lang), lang, errors=_issue_dicts(exc.issues, lang))

    @app.exception_handler(AvanceError)
    async def _avance_error(request: Request, exc: AvanceError) -> Response:
        lang = _lang(request)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status >= 500:
            log.error("node error %s %s", exc.code, exc.params)
        return problem(request, exc.status, exc.code, exc.message(lang), lang, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> Response:
        lang = _lang(request)
        received = _not_json(request)
        if received is not None and any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
            code = "error.unsupported_media_type"
            return problem(request, 415, code, t(code, lang, received=received), lang)
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
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        lang = _lang(request)
        if exc.status_code == 400:  # FastAPI could not even decode the body (not UTF-8 JSON)
            issue = Issue("", "schema.json_invalid", {})
            return problem(request, 422, "validation", t("error.validation", lang, count=1), lang, errors=[issue.to_dict(lang)])
        code = {404: "not_found.route", 405: "error.method_not_allowed", 413: "error.payload_too_large"}.get(exc.status_code, "error.generic")
        return problem(request, exc.status_code, code, t(code, lang, limit=MAX_BODY), lang)

    @app.exception_handler(OperationalError)
    async def _store_down(request: Request, exc: OperationalError) -> Response:
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0] if str(exc) else exc)
        lang = _lang(request)
        return problem(request, 503, "unavailable", t("error.unavailable", lang), lang, headers={"Retry-After": "10"})

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> Response:
        lang = _lang(request)
        if unstorable_text(exc):  # e.g. a NUL character, which PostgreSQL cannot keep in text or JSON
            issue = Issue("", "error.unstorable_text", {})
            return problem(request, 422, "validation", t("error.validation", lang, count=1), lang, errors=[issue.to_dict(lang)])
        log.error("data error on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0] if str(exc) else exc)
        return problem(request, 500, "internal", t("error.internal", lang), lang)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        lang = _lang(request)
        return problem(request, 500, "internal", t("error.internal", lang), lang)


MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted (a declaration of 999 items stays far below it)."""


class BodyLimit:
    """ASGI middleware: a request body is read up to ``limit`` bytes and no further. A declared
    ``Content-Length`` over the limit (or unreadable) is refused at once, before routing; a body
    without one (chunked) is counted as it comes, and past the limit the route's reading of it
    raises a 413. Both answer the same problem+json."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            lang = _lang(request)
            await problem(request, 413, "error.payload_too_large", t("error.payload_too_large", lang, limit=self.limit), lang)(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, limited, send)


# --- what answers are made of --------------------------------------------------------------------

DecimalText = Annotated[str, Field(description="An exact decimal in plain notation (never a binary float).", examples=["1250000.50"])]
DateText = Annotated[str, Field(description="An ISO 8601 date.", json_schema_extra={"format": "date"})]
TimeText = Annotated[str, Field(description="An ISO 8601 date and time, UTC.", json_schema_extra={"format": "date-time"})]
"""Text types of the response models: amounts, dates and times as the views write them (exact
decimals as text; ``isoformat()``), so that a model describes an answer without rewriting it."""


# --- problems, as the OpenAPI document describes them -------------------------------------------


class ProblemIssue(BaseModel):
    """One located problem of a rejected request."""

    pointer: str | None = Field(None, description="Where in the body, as a JSON pointer (RFC 6901); empty for the whole body.")
    parameter: str | None = Field(None, description="Which query, path or header parameter, when the problem is not in the body.")
    code: str = Field(description="Catalog key of the problem, stable across languages (e.g. `schema.missing`).")
    detail: str = Field(description="The problem, in the caller's language.")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details in the caller's language (``Content-Language``)."""

    type: str = Field(description="`urn:avance:problem:` followed by the code.", examples=["urn:avance:problem:forbidden.role"])
    title: str = Field(description="What kind of error, in the caller's language.")
    status: int = Field(description="The HTTP status, repeated.")
    detail: str = Field(description="What went wrong, in the caller's language.")
    instance: str = Field(description="The path of the request.")
    code: str = Field(description="Catalog key of the error, stable across languages: what a program tests.", examples=["forbidden.role"])
    errors: list[ProblemIssue] | None = Field(None, description="Every problem found, when the request was rejected as invalid (422).")


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}

ERRORS: dict[int, str] = {
    401: "No valid bearer token (`WWW-Authenticate: Bearer`).",
    403: "The caller's role may not do this (`forbidden.role`), or a declarant acts for another party.",
    404: "No such resource, or none the caller may see.",
    406: "None of the representations of the resource fits `Accept` or `format`.",
    409: "The request is valid but the resource's current state does not allow it.",
    413: "The body is larger than the node accepts.",
    415: "The body is not sent as `application/json` (`Content-Type`).",
    422: "The request was rejected: `errors` lists every problem with its JSON pointer or parameter. Nothing was stored.",
    503: "The database does not answer (try again after `Retry-After` seconds), or the node is not set up for this yet (`exchange.not_initialised`); nothing was stored.",
}
"""What each error status means, as every operation's documentation says it."""


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response of an error ``status``: a problem+json body."""
    return {"description": description or ERRORS[status], "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the errors the node cannot infer: 409, a 404 without an id in
    the path, 406. 401 and 403 (protected), 404 (an id in the path), 422 and 413 (input) and 503
    are added to every operation concerned by ``document_problems``."""
    return {status: problem_response(status) for status in statuses}


_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _replaceable(response: dict[str, Any]) -> bool:
    """Whether an error response says nothing of its body, or only FastAPI's default 422 one."""
    content = response.get("content")
    if not content:
        return True
    return set(content) == {"application/json"} and content["application/json"].get("schema") == {"$ref": "#/components/schemas/HTTPValidationError"}


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Describe the errors of every operation of ``openapi`` as what the node sends: problem+json.

    Each operation lists 401 and 403 when it is protected (it references a security scheme), 404
    when an id is in its path, 422 when it takes parameters or a body, 413 when it takes a body,
    and 503 (the database); the errors a route declares itself (``problems``) stay. A response a
    route describes with a body of its own (the health check's 503) is kept as it is.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema([(Problem, "serialization")], ref_template="#/components/schemas/{model}")
    schemas.update(definitions["$defs"])
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            wanted = {503}
            if operation.get("security"):
                wanted |= {401, 403}
            if "{" in path:
                wanted.add(404)
            if operation.get("parameters") or operation.get("requestBody"):
                wanted.add(422)
            if operation.get("requestBody"):
                wanted |= {413, 415}
            for status in wanted:
                responses.setdefault(str(status), {})
            for status, response in responses.items():
                if not status.isdigit() or int(status) < 400 or not _replaceable(response):
                    continue
                described = response.get("description")
                default = ERRORS.get(int(status), "An error.")
                response.clear()
                response.update(problem_response(int(status), described if described and described != "Validation Error" else default))
            operation["responses"] = dict(sorted(responses.items()))
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(openapi["paths"]):
        for name in _FASTAPI_VALIDATION:  # FastAPI's own 422 body, which the node never sends
            schemas.pop(name, None)
    return openapi


# --- representations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """A form a resource can be sent in: its name in ``?format=`` and its media type."""

    format: str
    media_type: str
    structured: bool = False  # a document clients parse (YAML): described as any value, not as one string


JSON = Representation("json", "application/json")
CSV = Representation("csv", "text/csv")
YAML = Representation("yaml", "text/yaml", structured=True)


class NotAcceptable(AvanceError):
    status = 406
    code = "http.not_acceptable"


def representation(request: Request, offered: Sequence[Representation]) -> Representation:
    """The representation of a resource to answer ``request`` with, among ``offered`` (the
    preferred first).

    ``?format=`` decides when given: a link cannot set a header, and an officer's browser asks for
    ``text/html`` first. Otherwise the ``Accept`` header does, q-values and specificity honoured
    (RFC 9110, §12.5.1); the first offered wins a tie, and is the answer when there is no (or no
    readable) ``Accept`` header. Neither fitting: 406 problem+json naming what is offered.
    """
    if not offered:
        raise ValueError("a resource offers at least one representation")
    refused = NotAcceptable(offered=", ".join(f"{r.format} ({r.media_type})" for r in offered))
    asked = request.query_params.get("format")
    if asked is not None:
        for candidate in offered:
            if candidate.format == asked.strip().lower():
                return candidate
        raise refused
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return offered[0]
    by_type = {r.media_type: r for r in offered}
    try:  # mimeparse ranks the last of equals first: the preferred goes last
        best = mimeparse.best_match(list(reversed(by_type)), accept)
    except mimeparse.MimeTypeParseException:  # an unreadable header may be disregarded (RFC 9110)
        return offered[0]
    if not best:
        raise refused
    return by_type[best]


def Negotiated(*offered: Representation) -> Any:  # noqa: N802  (used as a type: Annotated[Representation, Negotiated(...)])
    """A route's dependency: the representation ``representation`` chooses among ``offered``; it
    declares the ``format`` query parameter in the OpenAPI document."""
    names = [r.format for r in offered]

    def choose(
        request: Request,
        response: Response,
        # declared for the OpenAPI document (read by representation itself); a default rather than
        # Annotated, because the annotations of this module are strings and names is local
        format_: str | None = Query(None, alias="format", description=f"The representation, for a link: {', '.join(names)} (default: by `Accept`).", json_schema_extra={"enum": names}),
    ) -> Representation:
        response.headers["Vary"] = "Accept"  # a JSON answer too: caches keep one per Accept
        return representation(request, offered)

    return Depends(choose)


def representations(*offered: Representation) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route answering in ``offered`` besides JSON: each other media type
    under 200 (the JSON one is the route's response model) and 406."""
    content = {r.media_type: {"schema": {} if r.structured else {"type": "string"}} for r in offered if r != JSON}
    return {200: {"content": content}, **problems(406)}


def file_response(text: str, form: Representation, filename: str) -> Response:
    """A text representation of a resource (CSV, YAML) as a download, in UTF-8; like the JSON one
    it varies with ``Accept``."""
    return Response(
        text.encode("utf-8"),
        media_type=f"{form.media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"},
    )


# --- headers on every answer ---------------------------------------------------------------------

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
"""The content security policy of everything the node serves: nothing inline, nothing from
elsewhere. The interactive API documentation (``DOCS_PAGES``) carries its own inline start-up
script and gets ``DOCS_POLICY`` instead."""

DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
"""The pages of the interactive API documentation (FastAPIOffline's), served with ``DOCS_POLICY``."""

DOCS_POLICY = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
"""The policy of the documentation pages: a script runs only from the node or when it is one of the
page's own inline scripts, named by its SHA-256 (computed from the page as served, so that it
follows the page when FastAPI changes it). Styles may be inline: Swagger UI and ReDoc set them
from their scripts; a style cannot run code."""

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def inline_script_hashes(html: bytes) -> list[str]:
    """The CSP source expressions (``'sha256-...'``) of the inline scripts of ``html``."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html)]


def docs_policy(html: bytes) -> str:
    """``DOCS_POLICY`` for a documentation page whose body is ``html``."""
    hashes = inline_script_hashes(html)
    return DOCS_POLICY.format(scripts="".join(f" {h}" for h in hashes))


class SecurityHeaders:
    """ASGI middleware: a content security policy, no framing, no type sniffing, no referrer to
    other sites, and HSTS when the request came over TLS (directly, or through a proxy whose
    ``X-Forwarded-Proto`` the server trusts: uvicorn sets the scheme from it).

    A documentation page is read whole before it is sent (a few kilobytes), uncompressed, so that
    its policy names the hashes of the inline scripts it really holds."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        def headers_of(message: Any, policy: str) -> Any:
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            extra = [
                (b"content-security-policy", policy.encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"same-origin"),
            ]
            if secure:
                extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
            headers += [(k, v) for k, v in extra if k not in names]
            return {**message, "headers": headers}

        if scope.get("path", "") not in DOCS_PAGES:

            async def with_headers(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message = headers_of(message, PAGE_POLICY)
                await send(message)

            await self.app(scope, receive, with_headers)
            return

        scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]}
        start: Any = None
        chunks: list[bytes] = []

        async def buffered(message: Any) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                await send(headers_of(start, docs_policy(body)))
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, buffered)


# --- rate limits ---------------------------------------------------------------------------------


class RateLimit:
    """ASGI middleware: requests per bearer token and per source address, in token buckets
    (``avance.kit.ratelimit``); past the limit, 429 problem+json with ``Retry-After``, before the
    body is read or the token checked.

    ``token_per_minute`` counts the requests made with one bearer token (by its digest: the token
    itself is not kept), ``address_per_minute`` those from one source address; a request with a
    token must pass both. A path of ``by_path`` has its own limit per source address instead (the
    exchange inbox: partners post without a token). Paths in ``exempt`` (or starting with one of
    its entries ending in ``/``) are never limited: the health check, static files. A limit of 0
    is none. The source address is the one the server saw: behind a reverse proxy, the one
    uvicorn takes from ``X-Forwarded-For`` when it trusts the proxy (``FORWARDED_ALLOW_IPS``)."""

    def __init__(
        self,
        app: Any,
        *,
        token_per_minute: int,
        address_per_minute: int,
        by_path: dict[str, int] | None = None,
        exempt: Sequence[str] = ("/health", "/static/", "/static-offline-docs/", "/favicon.ico"),
    ) -> None:
        self.app = app
        self.tokens = Buckets(token_per_minute) if token_per_minute > 0 else None
        self.addresses = Buckets(address_per_minute) if address_per_minute > 0 else None
        self.paths = {path: Buckets(rate) if rate > 0 else None for path, rate in (by_path or {}).items()}
        self.exact = frozenset(p for p in exempt if not p.endswith("/"))
        self.prefixes = tuple(p for p in exempt if p.endswith("/"))

    def _wait(self, scope: Any) -> float:
        path = scope.get("path", "")
        if path in self.exact or path.startswith(self.prefixes):
            return 0.0
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if path in self.paths:
            own = self.paths[path]
            return own.take(address) if own is not None else 0.0
        wait = 0.0
        if self.tokens is not None:
            for name, value in scope.get("headers", []):
                if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
                    wait = max(wait, self.tokens.take(hashlib.sha256(value[7:].strip()).hexdigest()))
                    break
        if self.addresses is not None:
            wait = max(wait, self.addresses.take(address))
        return wait

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self._wait(scope)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        lang = _lang(request)
        seconds = retry_after(wait)
        refusal = problem(request, 429, "error.rate_limited", t("error.rate_limited", lang, seconds=seconds), lang, headers={"Retry-After": seconds})
        await refusal(scope, receive, send)


def document_rate_limits(openapi: dict[str, Any], exempt: Sequence[str] = ("/health",)) -> dict[str, Any]:
    """Add the 429 answer (problem+json, ``Retry-After``) to every operation of ``openapi`` that
    ``RateLimit`` may refuse."""
    described = {
        **problem_response(429, "Too many requests from this token or address: try again after `Retry-After` seconds."),
        "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
    }
    for path, item in openapi.get("paths", {}).items():
        if path in exempt:
            continue
        for method, operation in item.items():
            if method in _METHODS:
                operation.setdefault("responses", {}).setdefault("429", described)
                operation["responses"] = dict(sorted(operation["responses"].items()))
    return openapi
