"""The second factor: time-based one-time codes (TOTP, RFC 6238) as authenticator applications
make them: six digits, a new code every 30 seconds, SHA-1, from a random 160-bit secret.

Pure: no store. A code is accepted for the current 30-second step and the one on either side
(clocks differ), and only for a step later than the last one accepted for the user, so that a
code seen over a shoulder or in a proxy log cannot be used a second time.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp

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
