"""The message envelope nodes exchange: fields, canonical JSON, Ed25519 signature (JWS, detached).

Every message travels as one JSON object::

    {"id": UUID, "type": ..., "version": "1", "sender": node id, "recipient": node id,
     "movement": str | null, "sequence": int | null, "correlation": str | null,
     "created_at": "2026-06-01T09:30:00.123456Z", "payload": {...},
     "signature": {"kid": ..., "alg": "EdDSA", "sig": base64url}}

The signature is a JWS (RFC 7515) with a detached payload (appendix F), EdDSA over Ed25519 (RFC 8037):
the JWS payload is the *canonical JSON* of the envelope without its ``signature`` member (keys sorted
at every level, no insignificant white space, UTF-8), the protected header is the canonical JSON of
``{"alg": "EdDSA", "kid": kid}``, and ``sig`` is the JWS signature. The compact serialisation is
``BASE64URL(header) + ".." + sig``, so any JWS library can check a message (see ``jws_compact``).

The published JSON Schema (``schemas/v1/envelope.schema.json``) is what the inbox enforces; the
pydantic model here is the typed view handlers receive.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

VERSION = "1"
ALG = "EdDSA"
BUSINESS_TYPES: tuple[str, ...] = (
    "export-declaration-notice",
    "transit-declaration",
    "passage-notification",
    "arrival-notification",
    "discharge",
    "match-result",
)
TYPES: tuple[str, ...] = (*BUSINESS_TYPES, "ack", "reference-data-update", "deferred-ack")
"""Every message type of version 1 of the specification. ``ack`` travels only in the HTTP answer to
a batch; ``deferred-ack`` is the later answer to a message that was answered ``buffered``."""

NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MOVEMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,69}$"
CORRELATION_MAX = 100
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str = Field(description="Key id of the signing key: RFC 7638 JWK thumbprint of the sender's Ed25519 public key.")
    alg: Literal["EdDSA"] = Field(description="Always EdDSA (Ed25519, RFC 8037).")
    sig: str = Field(description="JWS signature, base64url without padding.")


class Envelope(BaseModel):
    """A message between two nodes. ``payload`` follows ``schemas/v1/<type>.schema.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="UUID of the message, chosen by the sender; the same on every retry.")
    type: str = Field(description="Message type, one of TYPES.")
    version: Literal["1"] = Field("1", description="Version of the specification.")
    sender: str = Field(description="Node id of the sending administration.")
    recipient: str = Field(description="Node id of the receiving administration.")
    movement: str | None = Field(None, description="Business stream the message belongs to (an MRN, an export reference); order is kept within it.")
    sequence: int | None = Field(None, description="Position of the message in (sender, recipient, movement), from 1.")
    correlation: str | None = Field(None, description="Id of the message or business reference this one answers.")
    created_at: AwareDatetime = Field(description="When this copy was signed (UTC); a retry is signed again, later.")
    payload: dict[str, Any]
    signature: Signature | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Envelope:
        return cls.model_validate(data)

    def to_wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"created_at", "signature"})
        data["created_at"] = format_time(self.created_at)
        if self.signature is not None:
            data["signature"] = self.signature.model_dump()
        return data


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(value: datetime) -> str:
    """The one way Avance writes a timestamp on the wire: UTC, microseconds, ``Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(value: Any) -> bytes:
    """Canonical JSON: keys sorted at every level, no spaces, UTF-8."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def signing_content(envelope: dict[str, Any]) -> bytes:
    """What the signature covers: the canonical JSON of every member but ``signature``."""
    return canonical({k: v for k, v in envelope.items() if k != "signature"})


def digest(envelope: dict[str, Any]) -> str:
    """SHA-256 of the message's content, leaving out what changes between retries (created_at, signature)."""
    return hashlib.sha256(canonical({k: v for k, v in envelope.items() if k not in ("signature", "created_at")})).hexdigest()


@lru_cache(maxsize=64)
def _protected(kid: str) -> str:
    return b64u(canonical({"alg": ALG, "kid": kid}))


def _signing_input(envelope: dict[str, Any], kid: str) -> bytes:
    return f"{_protected(kid)}.{b64u(signing_content(envelope))}".encode("ascii")


def sign(envelope: dict[str, Any], kid: str, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``envelope`` (wire form) with its signature."""
    signed = {k: v for k, v in envelope.items() if k != "signature"}
    signed["signature"] = {"kid": kid, "alg": ALG, "sig": b64u(private_key.sign(_signing_input(signed, kid)))}
    return signed


def verify(envelope: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True when the envelope's signature is valid for ``public_key``."""
    signature = envelope.get("signature")
    if not isinstance(signature, dict) or signature.get("alg") != ALG:
        return False
    kid, sig = signature.get("kid"), signature.get("sig")
    if not isinstance(kid, str) or not isinstance(sig, str):
        return False
    try:
        public_key.verify(b64u_decode(sig), _signing_input(envelope, kid))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def jws_compact(envelope: dict[str, Any]) -> str:
    """The signature as a JWS compact serialisation with detached payload (``header..signature``)."""
    signature = envelope["signature"]
    return f"{_protected(signature['kid'])}..{signature['sig']}"


def build(*, sender: str, recipient: str, type: str, payload: dict[str, Any], message_id: str | None = None,
          movement: str | None = None, sequence: int | None = None, correlation: str | None = None,
          created_at: datetime | None = None) -> dict[str, Any]:
    """An unsigned envelope in wire form."""
    return {
        "id": message_id or new_id(),
        "type": type,
        "version": VERSION,
        "sender": sender,
        "recipient": recipient,
        "movement": movement,
        "sequence": sequence,
        "correlation": correlation,
        "created_at": format_time(created_at or now()),
        "payload": payload,
    }


# --- published schemas -------------------------------------------------------------------------

SCHEMA_PACKAGE = "avance.exchange"
SCHEMA_DIR = Path(str(resources.files(SCHEMA_PACKAGE).joinpath("schemas", "v1")))
"""The published JSON Schemas of the envelope and of every payload (the message specification)."""


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any] | None:
    """The published JSON Schema ``schemas/v1/<name>.schema.json`` (None when there is none)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A compiled Draft 2020-12 validator of schema ``name`` (None when there is no such schema)."""
    from jsonschema import Draft202012Validator, FormatChecker

    document = schema(name)
    if document is None:
        return None
    return Draft202012Validator(document, format_checker=FormatChecker())


def schema_errors(name: str, instance: Any, prefix: str = "", limit: int = 10) -> list[dict[str, str]]:
    """Where ``instance`` breaks schema ``name``: [{"pointer", "message"}] (empty when valid)."""
    checker = validator(name)
    errors = []
    for error in sorted(checker.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        pointer = prefix + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path)
        errors.append({"pointer": pointer, "message": error.message[:300]})
        if len(errors) >= limit:
            break
    return errors
