"""This node's exchange identity: its node id and its Ed25519 signing keys.

The node id is stored in ``node_settings`` (key ``exchange.node_id``). Each key pair has a key id
(``kid``): the RFC 7638 JWK thumbprint of its public key, so a partner can compute it from the
public key alone. Public keys are in the ``exchange_keys`` table; private keys are PEM (PKCS #8)
files ``DATA_DIR/exchange-keys/<kid>.pem``, readable by the node's user only (0600, folder 0700).
Every server of a node needs the same folder (copy it, or share DATA_DIR).

A private key file may be encrypted with a passphrase (PKCS #8 with the best encryption the
``cryptography`` library offers): then a copy of DATA_DIR (a backup, a shared volume) does not
give the key away. The passphrase comes from the settings (``AVANCE_KEY_PASSPHRASE_FILE``, a
file the operator or a secrets manager provides, or ``AVANCE_KEY_PASSPHRASE``), so that every host
of a node starts unattended; with one set, new keys are written encrypted, and ``protect``
(``avance exchange protect-keys``) encrypts the keys written before.

Rotation: ``rotate`` makes a new key current; the previous one stays usable for a grace period
(default 7 days) for partners that have not yet registered the new key (see avance.exchange.sender).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, insert, select, update

from avance.kit.errors import ConfigurationError, Conflict, Issue, NotReady, ValidationFailed
from avance.kit.settings import KEY_DIR, Settings, get_settings
from avance.exchange.envelope import NODE_ID_PATTERN, b64u, b64u_decode, canonical, now
from avance.store import node_settings
from avance.exchange.tables import exchange_keys

NODE_ID_KEY = "exchange.node_id"
DEFAULT_GRACE = timedelta(days=7)
_NODE_ID = re.compile(NODE_ID_PATTERN)
_KID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class OwnKey:
    kid: str
    public_key: str  # base64url of the 32 raw bytes
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None

    def usable(self, at: datetime) -> bool:
        """The current key, or a retired one still in its grace period."""
        return self.retired_at is None or (self.expires_at is not None and self.expires_at > at)


# --- public keys ---------------------------------------------------------------------------------


def thumbprint(public_raw: bytes) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the default kid."""
    import hashlib

    jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64u(public_raw)}
    return b64u(hashlib.sha256(canonical(jwk)).digest())


def parse_public_key(text: str, pointer: str = "/public_key") -> bytes:
    """The 32 raw bytes of an Ed25519 public key given in base64 or base64url (padding optional)."""
    cleaned = "".join(str(text).split())
    raw = b""
    if re.fullmatch(r"[A-Za-z0-9+/_-]{42,44}={0,2}", cleaned):
        body = cleaned.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != 32:
        raise ValidationFailed([Issue(pointer, "partners.bad_key", {})])
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValidationFailed([Issue(pointer, "partners.bad_key", {})]) from None
    return raw


def load_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(b64u_decode(text))


def check_kid(kid: str, pointer: str = "/kid") -> str:
    if not _KID.match(kid or ""):
        raise ValidationFailed([Issue(pointer, "partners.bad_kid", {"kid": kid})])
    return kid


def check_node_id(value: str, pointer: str = "/node_id") -> str:
    if not _NODE_ID.match(value or ""):
        raise ValidationFailed([Issue(pointer, "exchange.bad_node_id", {"node_id": value})])
    return value


# --- identity ------------------------------------------------------------------------------------


def node_id_or_none(conn: Connection) -> str | None:
    return node_settings.get(conn, NODE_ID_KEY)


def node_id(conn: Connection) -> str:
    """This node's id (set by ``avance exchange init --node-id ...``)."""
    value = node_id_or_none(conn)
    if value is None:
        raise NotReady("exchange.not_initialised")
    return value


def own_keys(conn: Connection) -> list[OwnKey]:
    """Every key this node has had, newest first."""
    rows = conn.execute(select(exchange_keys).order_by(exchange_keys.c.created_at.desc())).mappings()
    return [OwnKey(r["kid"], r["public_key"], r["created_at"], r["retired_at"], r["expires_at"]) for r in rows]


def current_key(conn: Connection) -> OwnKey:
    for key in own_keys(conn):
        if key.retired_at is None:
            return key
    raise NotReady("exchange.not_initialised")


def grace_key(conn: Connection, at: datetime | None = None) -> OwnKey | None:
    """The previous key while it is still in its grace period."""
    at = at or now()
    for key in own_keys(conn):
        if key.retired_at is not None and key.usable(at):
            return key
    return None


def init(conn: Connection, data_dir: Path, node_id_value: str) -> OwnKey:
    """Give the node its id and its first key pair; running it again with the same id changes nothing."""
    check_node_id(node_id_value)
    existing = node_id_or_none(conn)
    if existing is not None and existing != node_id_value:
        raise Conflict("exchange.already_initialised", node_id=existing)
    if existing is None:
        node_settings.put(conn, NODE_ID_KEY, node_id_value)
    keys = own_keys(conn)
    current = next((k for k in keys if k.retired_at is None), None)
    if current is not None and _key_file(data_dir, current.kid).is_file():
        return current
    if current is not None:  # the private key file was lost: that key can no longer sign
        raise ConfigurationError("exchange.key_file_missing", path=str(_key_file(data_dir, current.kid)))
    return _new_key(conn, data_dir)


def rotate(conn: Connection, data_dir: Path, grace: timedelta = DEFAULT_GRACE) -> OwnKey:
    """A new current key; the previous one stays usable for ``grace``. Expired key files are deleted."""
    node_id(conn)
    at = now()
    for key in own_keys(conn):
        if key.retired_at is not None and not key.usable(at):
            _key_file(data_dir, key.kid).unlink(missing_ok=True)
    conn.execute(
        update(exchange_keys)
        .where(exchange_keys.c.retired_at.is_(None))
        .values(retired_at=at, expires_at=at + grace)
    )
    # Only one previous key stays in grace: an older one ends now.
    conn.execute(
        update(exchange_keys)
        .where(exchange_keys.c.retired_at.is_not(None), exchange_keys.c.retired_at < at, exchange_keys.c.expires_at > at)
        .values(expires_at=at)
    )
    return _new_key(conn, data_dir)


def _new_key(conn: Connection, data_dir: Path) -> OwnKey:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = thumbprint(raw)
    _write_private(data_dir, kid, private)
    created = now()
    conn.execute(insert(exchange_keys).values(kid=kid, public_key=b64u(raw), created_at=created, retired_at=None, expires_at=None))
    return OwnKey(kid, b64u(raw), created, None, None)


def public_key_base64(key: OwnKey) -> str:
    """The public key as partners type it: standard base64 of the 32 raw bytes."""
    return base64.b64encode(b64u_decode(key.public_key)).decode("ascii")


# --- private keys --------------------------------------------------------------------------------

_cache: dict[tuple[str, str], Ed25519PrivateKey] = {}
_cache_lock = threading.Lock()


def _key_file(data_dir: Path, kid: str) -> Path:
    return Path(data_dir) / KEY_DIR / f"{kid}.pem"


def passphrase(settings: Settings | None = None) -> bytes | None:
    """The passphrase of the private key files, from ``settings`` (default: the environment's)."""
    settings = settings or get_settings()
    try:
        return settings.resolved_key_passphrase()
    except OSError:
        raise ConfigurationError("exchange.key_passphrase_unreadable", path=str(settings.key_passphrase_file)) from None


def _encrypted(pem: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem


def _pem(private: Ed25519PrivateKey, secret: bytes | None) -> bytes:
    encryption = serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _write_private(data_dir: Path, kid: str, private: Ed25519PrivateKey) -> None:
    folder = Path(data_dir) / KEY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    pem = _pem(private, passphrase())
    path = folder / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _load(path: Path, secret: bytes | None) -> Ed25519PrivateKey:
    """The private key of the file ``path``, opened with ``secret`` when it is encrypted."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError("exchange.key_file_missing", path=str(path)) from None
    if _encrypted(pem) and not secret:
        raise ConfigurationError("exchange.key_passphrase_missing", path=str(path))
    try:
        loaded = serialization.load_pem_private_key(pem, password=secret if _encrypted(pem) else None)
    except (ValueError, TypeError):
        code = "exchange.key_passphrase_wrong" if _encrypted(pem) else "exchange.key_file_missing"
        raise ConfigurationError(code, path=str(path)) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigurationError("exchange.key_file_missing", path=str(path))
    return loaded


def private_key(data_dir: Path, kid: str) -> Ed25519PrivateKey:
    """The private key ``kid`` from the node's key folder (cached), decrypted with the passphrase
    of the settings when it is encrypted."""
    path = _key_file(data_dir, kid)
    cache_key = (str(path.resolve()), kid)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    pem_secret = passphrase() if path.is_file() and _encrypted(path.read_bytes()) else None
    loaded = _load(path, pem_secret)
    with _cache_lock:
        _cache[cache_key] = loaded
    return loaded


def check_private_keys(conn: Connection, data_dir: Path) -> int:
    """Open every private key the node signs with now (the current key, the previous one in its
    grace period): at start, so that a missing or wrong passphrase stops the node with one clear
    error instead of failing its first signature. Returns how many were opened; 0 before
    ``avance exchange init``."""
    if node_id_or_none(conn) is None:
        return 0
    at = now()
    usable = [k for k in own_keys(conn) if k.usable(at)]
    for key in usable:
        private_key(data_dir, key.kid)
    return len(usable)


def protect(data_dir: Path, secret: bytes | None, old: bytes | None = None) -> tuple[int, int]:
    """Encrypt with ``secret`` every private key file of the node that is not encrypted with it
    yet (each replaced atomically, still 0600): a plain one, or one encrypted with the ``old``
    passphrase (a change of passphrase). Any other encrypted one must open with ``secret``, so that
    all keys stay under one. Returns how many were encrypted now and how many already were."""
    if not secret:
        raise ConfigurationError("exchange.key_passphrase_none")
    folder = Path(data_dir) / KEY_DIR
    files = sorted(folder.glob("*.pem")) if folder.is_dir() else []
    done = already = 0
    for path in files:
        if _encrypted(path.read_bytes()):
            if old is None or old == secret:
                _load(path, secret)
                already += 1
                continue
            private = _load(path, old)
        else:
            private = _load(path, None)
        temporary = path.with_name(path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(_pem(private, secret))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        done += 1
    with _cache_lock:
        _cache.clear()
    return done, already


@dataclass(frozen=True, slots=True)
class Signer:
    """A key ready to sign: its id and its private half."""

    kid: str
    key: Ed25519PrivateKey


def signer(conn: Connection, data_dir: Path, kid: str | None = None) -> Signer:
    """The current key (or key ``kid``) ready to sign."""
    chosen = kid or current_key(conn).kid
    return Signer(chosen, private_key(data_dir, chosen))
