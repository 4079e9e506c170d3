"""The second factor: time-based one-time codes (TOTP, RFC 6238) as authenticator applications
make them: six digits, a new code every 30 seconds, SHA-1, from a random 160-bit secret.

No store. A code is accepted for the current 30-second step and the one on either side
(clocks differ), and only for a step later than the last one accepted for the user, so that a
code seen over a shoulder or in a proxy log cannot be used a second time.

A secret is kept in the database sealed (``Sealer``: AES-256-GCM under a key in a file beside the
node's private keys, ``DATA_DIR/exchange-keys/totp-seal.key``), so that a copy of the database
alone, a dump or a stolen backup of it, does not give the codes away.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from avance.kit.errors import NotReady
from avance.kit.settings import KEY_DIR

DIGITS = 6
PERIOD = 30
DRIFT = 1
"""Steps accepted on either side of the current one (30 seconds each)."""
_CODE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A random base32 secret of 160 bits (the length RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def enrolment_uri(secret: str, name: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator application reads (as text or a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=name, issuer_name=issuer)


def step_of(at: datetime) -> int:
    """The 30-second step ``at`` falls in."""
    return int(at.timestamp()) // PERIOD


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator shows at ``at`` (tests and the demo use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).at(at)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The step whose code ``code`` is, if it is one of the steps around ``now`` and later than
    ``last_step`` (a code is used once); None otherwise."""
    code = code.strip().replace(" ", "")
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = step_of(now)
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):  # every step compared: the time taken does not tell which
        if hmac.compare_digest(totp.generate_otp(step), code) and (last_step is None or step > last_step):
            found = step
    return found


SEAL_FILE = "totp-seal.key"
"""The sealing key's file in the node's key folder: 32 random bytes, made on first use."""
SEALED = "sealed1:"
"""The prefix of a sealed secret; a value without it is a secret stored before sealing."""
_CONTEXT = b"avance.totp.secret"


class Sealer:
    """Seals second-factor secrets for the database and opens them again (AES-256-GCM, a random
    96-bit nonce per seal)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        return SEALED + base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, secret.encode("ascii"), _CONTEXT)).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret of a stored value; a value stored before sealing is the secret itself. A
        value this key did not seal is NotReady ``identity.totp_key``: the host's key file is not
        the one the secret was sealed with (a host set up without the node's key folder)."""
        if not stored.startswith(SEALED):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED) :])
            return self._aead.decrypt(raw[:12], raw[12:], _CONTEXT).decode("ascii")
        except (InvalidTag, ValueError):
            raise NotReady("identity.totp_key", file=f"{KEY_DIR}/{SEAL_FILE}") from None

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED)


def sealer(data_dir: Path | str) -> Sealer:
    """The node's sealer: its key read from ``DATA_DIR/exchange-keys/totp-seal.key``, made there
    (0600, in a 0700 folder) when it does not exist yet; of two processes making it at once, both
    keep the one linked first."""
    return _sealer(Path(data_dir).resolve() / KEY_DIR / SEAL_FILE)


@lru_cache(maxsize=8)
def _sealer(path: Path) -> Sealer:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)  # whole or not at all; fails when another process linked its key first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise NotReady("identity.totp_key", file=f"{KEY_DIR}/{SEAL_FILE}")
    return Sealer(key)
