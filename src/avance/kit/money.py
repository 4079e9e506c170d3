"""Money: ``Decimal`` amounts with their ISO 4217 currency, rounded to the currency's minor unit.

Amounts are never floats. Rounding is half away from zero (``ROUND_HALF_UP`` on ``Decimal``
rounds away from zero for both signs), to the number of decimals ISO 4217 gives the currency
(XOF, XAF and GNF have none; NGN and GHS have two).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import iso4217


class UnknownCurrency(ValueError):
    """The code is not an active ISO 4217 currency."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@lru_cache(maxsize=None)
def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (ISO 4217 exponent); raises UnknownCurrency."""
    try:
        cur = iso4217.Currency(currency.upper())
    except (ValueError, KeyError, AttributeError):
        raise UnknownCurrency(currency) from None
    exponent = cur.exponent
    return int(exponent) if exponent is not None else 0


def is_currency(code: str) -> bool:
    """True when ``code`` is an ISO 4217 currency code."""
    try:
        minor_units(code)
    except UnknownCurrency:
        return False
    return True


@lru_cache(maxsize=None)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency``, half away from zero."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency."""

    amount: Decimal
    currency: str

    def rounded(self) -> "Money":
        return Money(round_money(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
