"""Lodging routes that take the region's message formats besides Avance JSON, chosen by
``Content-Type``, and answer in the format of the request.

A route declared with ``lodging_route(router, path, Accepts(...), ...)`` instead of ``router.post`` works
as before for JSON. A body sent as ``application/xml`` (WCO DM DEC, or ASYCUDA World SAD, told apart
by the root element) or ``application/edifact`` (a UN/EDIFACT interchange) is read by
``avance.formats.registry`` into the Avance document it holds, which then goes through the very
same route: the same Pydantic model, the same service call, the same transaction (one code path).

- A message must hold exactly one document of the route's kind (a declaration, a cargo report,
  an export notice); anything else is 422 (``format.http.one_document``, ``format.http.wrong_kind``).
- A success is answered in the request's format: a WCO DM RES message for XML, a CUSRES
  interchange for EDIFACT, carrying the route's JSON answer (id, reference, lane, duty total).
- An error (409, 422) is problem+json, unless ``Accept`` asks for the request's format: then a
  RES or CUSRES rejection carrying every error, each with its pointer and its message in the
  caller's language, with the same status. Nothing is stored on an error either way.
- A media type the route does not take is 415 (``format.http.unsupported``).

The OpenAPI document says all of it: the extra request media types, and the answers in each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

import mimeparse
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from avance.formats import edifact, registry, wco
from avance.formats.documents import Answer, AnswerError, Document, Kind
from avance.kit.errors import AvanceError, Issue, ValidationFailed
from avance.kit.http import ERRORS, PROBLEM, PROBLEM_SCHEMA, language
from avance.kit.validation import issues_from_errors

XML = "application/xml"
EDIFACT = "application/edifact"
_XML_TYPES = frozenset({"application/xml", "text/xml"})
_EDIFACT_TYPES = frozenset({"application/edifact", "application/edi-edifact"})
_ANSWERED_IN_FORMAT = (409, 422)
"""The errors a rejection message in the request's format may carry (the document's own); the
others (401, 403, 413, 415, 503) are always problem+json."""

_REFERENCES = {"declaration": "lrn", "cargo_report": "reference", "export_notice": "export_declaration_reference"}


class UnsupportedFormat(AvanceError):
    status = 415
    code = "format.http.unsupported"


@dataclass(frozen=True)
class Accepts:
    """What a lodging route takes besides JSON: its document's kind, the XML formats (registry
    names) it reads from ``application/xml``, and whether it reads ``application/edifact``."""

    kind: Kind
    xml: tuple[str, ...] = ()
    edifact: bool = False
    complete: Callable[[Request, dict[str, Any]], dict[str, Any]] | None = None
    """What the node adds to a document read from a message that the message's format cannot hold
    (the estimated arrival a WCO DM DEC has no element for, taken from the lodged cargo report)."""

    def media_types(self) -> list[str]:
        return ([XML] if self.xml else []) + ([EDIFACT] if self.edifact else [])


def media_of(request: Request) -> str | None:
    """``XML`` or ``EDIFACT`` for a body sent as one of them; None for anything else (JSON, no
    type, or a type FastAPI refuses itself)."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return None
    try:
        main, subtype, _ = mimeparse.parse_mime_type(content_type)
    except mimeparse.MimeTypeParseException:
        return None
    full = f"{main}/{subtype}".lower()
    if full in _XML_TYPES or full.endswith("+xml"):
        return XML
    if full in _EDIFACT_TYPES:
        return EDIFACT
    return None


def wants(request: Request, media: str) -> bool:
    """Whether ``Accept`` asks for the request's own format rather than problem+json: it must name
    it with a higher quality than both JSON types (``*/*`` or ``application/*`` ask for neither)."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    try:
        own = mimeparse.quality(media, accept)
        return own > 0 and own > max(mimeparse.quality(PROBLEM, accept), mimeparse.quality("application/json", accept))
    except mimeparse.MimeTypeParseException:
        return False


def read_one(data: bytes, media: str, accepts: Accepts) -> Document:
    """The one document of the route's kind that a message holds; else ValidationFailed."""
    if media == XML:
        fmt = registry.detect(data)
        if fmt not in accepts.xml:
            raise ValidationFailed([Issue("", "format.http.wrong_format", {"format": fmt, "accepted": ", ".join(accepts.xml)})])
    else:
        fmt = registry.EDIFACT
    documents = registry.read(data, fmt)
    if len(documents) != 1:
        raise ValidationFailed([Issue("", "format.http.one_document", {"count": len(documents)})])
    document = documents[0]
    if document.kind != accepts.kind:
        raise ValidationFailed([Issue("", "format.http.wrong_kind", {"found": document.kind, "expected": accepts.kind})])
    return document


def _as_json(request: Request, body: dict[str, Any]) -> Request:
    """The request with ``body`` as its JSON body: what the route reads, as if sent as JSON."""
    data = orjson.dumps(body)
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    converted = Request({**request.scope, "headers": headers}, request.receive)
    converted._body = data  # read already: the route reads this one
    return converted


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def answer_of(accepts: Accepts, answer: dict[str, Any], document: Document) -> Answer:
    """What the route answered (its JSON), as an acceptance message: ``control_required`` when
    the lane is yellow or red, ``accepted`` otherwise, with the duty total when there is one."""
    lane = answer.get("lane")
    reference = answer.get("lrn") or answer.get("reference") or answer.get("export_reference") or document.body.get(_REFERENCES[accepts.kind], "")
    return Answer(
        kind="control_required" if lane in ("yellow", "red") else "accepted",
        reference=str(reference),
        issued_at=datetime.now(timezone.utc),
        identifier=str(answer["id"]) if answer.get("id") is not None else None,
        office_code=document.body.get("office_code") or document.body.get("office_of_exit"),
        total=_decimal(answer.get("duty_total")),
        currency=answer.get("currency"),
        lane=lane,
    )


def rejection_of(exc: AvanceError, lang: str, reference: str) -> Answer:
    """An error as a rejection message: every issue with its pointer and its message in ``lang``."""
    if isinstance(exc, ValidationFailed):
        errors = tuple(AnswerError(i.pointer, i.code, i.message(lang)) for i in exc.issues)
    else:
        errors = (AnswerError("", exc.code, exc.message(lang)),)
    return Answer(kind="rejected", reference=reference or "-", issued_at=datetime.now(timezone.utc), errors=errors)


def message(answer: Answer, media: str) -> bytes:
    """An answer as a WCO DM RES message (XML) or a CUSRES interchange (EDIFACT)."""
    return wco.write_response(answer) if media == XML else edifact.write_cusres(answer)


def _route_class(accepts: Accepts) -> type[APIRoute]:
    class LodgingRoute(APIRoute):
        """A lodging route that reads ``accepts``'s formats and answers in them."""

        taken: ClassVar[Accepts] = accepts

        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

            async def route(request: Request) -> Response:
                media = media_of(request)
                if media is None:
                    return await handle(request)
                reference = ""
                try:
                    if media not in accepts.media_types():
                        raise UnsupportedFormat(received=media, accepted=", ".join(["application/json", *accepts.media_types()]))
                    document = read_one(await request.body(), media, accepts)
                    reference = str(document.body.get(_REFERENCES[accepts.kind], ""))
                    try:
                        body = accepts.complete(request, document.body) if accepts.complete is not None else document.body
                        response = await handle(_as_json(request, body))
                    except RequestValidationError as exc:  # the converted document, as the JSON one would be
                        raise ValidationFailed(issues_from_errors(exc.errors(), strip_prefix=("body",))) from None
                except AvanceError as exc:
                    if exc.status not in _ANSWERED_IN_FORMAT or not wants(request, media):
                        raise
                    lang = language(request)
                    body = message(rejection_of(exc, lang, reference), media)
                    return Response(body, status_code=exc.status, media_type=media, headers={"Content-Language": lang})
                if response.status_code >= 300:
                    return response
                answered = orjson.loads(bytes(response.body))
                headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
                return Response(message(answer_of(accepts, answered, document), media), status_code=response.status_code, media_type=media, headers=headers)

            return route

    return LodgingRoute


def _documented(accepts: Accepts, status_code: int, responses: dict[int | str, dict[str, Any]] | None, openapi_extra: dict[str, Any] | None) -> tuple[dict[int | str, Any], dict[str, Any]]:
    """The route's ``responses`` and ``openapi_extra`` with the other formats: each request media
    type, each success answered in it, each 409 and 422 in it too (when ``Accept`` asks)."""
    text = {"schema": {"type": "string"}}
    others = {media: text for media in accepts.media_types()}
    documented: dict[int | str, Any] = {str(k): dict(v) for k, v in (responses or {}).items()}
    for status in {str(status_code), *(k for k in documented if k.isdigit() and 200 <= int(k) < 300)}:
        entry = documented.setdefault(status, {})
        entry["content"] = {**entry.get("content", {}), **others}
    for status in _ANSWERED_IN_FORMAT:
        entry = documented.setdefault(str(status), {"description": ERRORS[status]})
        entry.setdefault("description", ERRORS[status])
        entry["content"] = {PROBLEM: {"schema": PROBLEM_SCHEMA}, **{k: v for k, v in entry.get("content", {}).items() if k != "application/json"}, **others}
    extra = dict(openapi_extra or {})
    body = dict(extra.get("requestBody", {}))
    body["content"] = {**body.get("content", {}), **{media: {"schema": {"type": "string", "description": _BODY[media]}} for media in accepts.media_types()}}
    extra["requestBody"] = body
    return documented, extra


_BODY = {
    XML: "A WCO Data Model 3.6 DEC message, or an ASYCUDA World SAD (told apart by the root element), where the route takes it.",
    EDIFACT: "A UN/EDIFACT D.99B interchange holding one message (CUSDEC or CUSCAR, as the route takes).",
}

F = TypeVar("F", bound=Callable[..., Any])


def lodging_route(router: APIRouter, path: str, accepts: Accepts, *, status_code: int, responses: dict[int | str, dict[str, Any]] | None = None, openapi_extra: dict[str, Any] | None = None, **options: Any) -> Callable[[F], F]:
    """``router.post(path, ...)`` for a lodging route that also takes ``accepts``'s formats."""

    def decorate(endpoint: F) -> F:
        documented, extra = _documented(accepts, status_code, responses, openapi_extra)
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            status_code=status_code,
            responses=documented,
            openapi_extra=extra,
            route_class_override=_route_class(accepts),
            **options,
        )
        return endpoint

    return decorate
