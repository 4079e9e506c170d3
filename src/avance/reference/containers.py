"""ISO 6346 container identification: the character values and the check digit, in one place.

A container number is an owner code (three letters), an equipment category (U, J or Z), a
six-digit serial and a check digit. The check digit is what lets an officer, a terminal or a
scanner tell a misread number from a real one; lodging a declaration, lodging a cargo report and
the demo generator's containers must therefore agree on it exactly, and so all use this module.

The weighting is also the EU movement reference number's (``avance.movements.transit.model``): each
character's value times 2 to the power of its position, summed, modulo 11, a remainder of 10
giving 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from string import ascii_uppercase, digits
from types import MappingProxyType


def _letter_values() -> dict[str, int]:
    table: dict[str, int] = {}
    value = 10
    for letter in ascii_uppercase:
        if value % 11 == 0:  # 11, 22 and 33 are skipped: they would weigh like 0 modulo 11
            value += 1
        table[letter] = value
        value += 1
    return table


LETTER_VALUES: Mapping[str, int] = MappingProxyType(_letter_values())
"""ISO 6346 letter values: A = 10 upwards, skipping the multiples of 11 (so B = 12, Z = 38)."""

CHARACTER_VALUES: Mapping[str, int] = MappingProxyType(dict(LETTER_VALUES) | {d: int(d) for d in digits})
"""Letters with their ISO 6346 values and digits with their own."""

_PREFIX = re.compile(r"[A-Z]{4}[0-9]{6}")


def check_digit(body: str) -> int:
    """The ISO 6346 check digit of ``body`` (letters and digits, any length): the sum of each
    character's value times 2**position, modulo 11, where a remainder of 10 gives 0.

    Raises KeyError on a character that has no value (lower case, punctuation)."""
    total = sum(CHARACTER_VALUES[ch] << i for i, ch in enumerate(body))
    return total % 11 % 10


def container_check_digit(prefix: str) -> int:
    """The check digit of a 10-character container number prefix (owner code, category, serial),
    e.g. 3 for ``CSQU305438``. Raises ValueError when ``prefix`` is not 4 letters and 6 digits."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"not an ISO 6346 container number prefix (4 capital letters, 6 digits): {prefix!r}")
    return check_digit(prefix)


@lru_cache(maxsize=65536)  # bulk imports check the same containers on many declarations
def container_check_digit_ok(container_id: str) -> bool:
    """True when the 11-character ``container_id`` ends with the check digit of its first ten
    characters; False for anything else (wrong digit, wrong length or characters)."""
    if len(container_id) != 11 or container_id[10] not in digits or not _PREFIX.fullmatch(container_id[:10]):
        return False
    return check_digit(container_id[:10]) == int(container_id[10])
