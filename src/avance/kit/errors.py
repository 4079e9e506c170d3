"""Typed domain errors. The edges map them to problem+json (API) or one line and exit 2 (CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from avance.kit.i18n import t


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in an inbound document: where (JSON pointer), what (catalog key), details."""

    pointer: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        return t(self.code, lang, **self.params)

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {"pointer": self.pointer, "code": self.code, "detail": self.message(lang)}


class AvanceError(Exception):
    """Base of the errors a user may see. ``code`` is a catalog key."""

    status = 400
    code = "error.generic"

    def __init__(self, code: str | None = None, /, **params: Any) -> None:
        self.code = code or type(self).code
        self.params = params
        super().__init__(self.code, params)

    def message(self, lang: str) -> str:
        params = {
            k: [t(v, lang) for v in value] if isinstance(value, (list, tuple)) and all(isinstance(v, str) and "." in v for v in value) else value
            for k, value in self.params.items()
        }
        return t(self.code, lang, **params)


class ValidationFailed(AvanceError):
    """The document breaks structural, reference or business rules; nothing was stored."""

    status = 422
    code = "error.validation"

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(self.code, count=len(issues))
        self.issues = issues


class NotFound(AvanceError):
    status = 404
    code = "error.not_found"


class Forbidden(AvanceError):
    status = 403
    code = "error.forbidden"


class Unauthorized(AvanceError):
    status = 401
    code = "error.unauthorized"


class Conflict(AvanceError):
    """The request is valid but the document's state does not allow it."""

    status = 409
    code = "error.conflict"


class ConfigurationError(AvanceError):
    """The node is not set up the way the command needs."""

    status = 500
    code = "error.configuration"


class NotReady(ConfigurationError):
    """The node is not set up for this yet (its exchange identity, for one): a client or a partner
    may try again later (HTTP 503), the operator has a step to take (the message says which)."""

    status = 503
