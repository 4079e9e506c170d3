"""Numbers and money as the operator reads and types them, in French or English, through Babel.

French groups thousands with a narrow no-break space and writes a decimal comma
(``4 431 400``, ``12,5 %``); English writes ``4,431,400`` and ``12.5%``. The Unicode CLDR data
that Babel ships says so for every locale; hand-written formatters each picked their own space
and drifted apart, so every number the command line shows or reads goes through here.

Amounts stay ``Decimal`` from end to end: formatting never goes through ``float``, a money
amount shows its currency's minor units (``XOF`` none, ``NGN`` two) without ever hiding a digit
it has, and parsing gives back the exact ``Decimal`` that was formatted.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import NumberFormatError, NumberPattern, format_currency, format_decimal, format_percent, parse_decimal

LOCALES = {"fr": "fr", "en": "en"}
"""The Babel locale of each language of the catalogs."""

Number = Decimal | int | float

_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_SPACES = re.compile(r"[ \u00a0\u2007\u2009\u202f]")
_NUMERIC = re.compile(r"[0-9+\-.,eE \u00a0\u2007\u2009\u202f]+")  # what a typed number may hold (no "_", "NaN" ...)


@lru_cache(maxsize=None)
def locale(lang: str) -> Locale:
    """The Babel locale of ``lang`` (French for a language the catalogs do not have)."""
    return Locale.parse(LOCALES.get(lang, "fr"))


@lru_cache(maxsize=None)
def _fixed(lang: str, kind: str, digits: int) -> NumberPattern:
    """The locale's own decimal or percent pattern, with exactly ``digits`` decimals."""
    loc = locale(lang)
    pattern = copy.copy(loc.percent_formats[None] if kind == "percent" else loc.decimal_formats[None])
    pattern.frac_prec = (digits, digits)
    return pattern


def number(value: Number, lang: str, digits: int | None = None) -> str:
    """``value`` with its thousands grouped: every digit of a ``Decimal`` or int when ``digits``
    is None (``12 345,678901``), else rounded to ``digits`` decimals (``0,870``)."""
    if digits is None:
        return format_decimal(value, locale=locale(lang), decimal_quantization=False)
    return format_decimal(value, _fixed(lang, "decimal", digits), locale=locale(lang))


def percent(share: Number, lang: str, digits: int = 1) -> str:
    """A share (``0.123``) as a percentage: ``12,3 %`` in French, ``12.3%`` in English."""
    return format_percent(share, _fixed(lang, "percent", digits), locale=locale(lang))


def money(amount: Decimal, currency: str, lang: str) -> str:
    """An amount with its currency's minor units and no symbol (``1 000``  XOF, ``1 000,50`` NGN);
    a digit beyond the minor units is shown, never rounded away."""
    return format_currency(amount, currency, "#,##0.00", locale=locale(lang), currency_digits=True, decimal_quantization=False)


def parse_number(text: str, lang: str) -> Decimal:
    """The exact ``Decimal`` an operator typed: in their language's form (``10 000 000,50`` in
    French, ``10,000,000.50`` in English), or in the plain form of files and scripts
    (``10000000.50``) in either language. Raises ``ValueError`` for anything else, for NaN and
    for infinities.

    Any space may group thousands in French (the narrow no-break space is hard to type).
    In French ``1,000`` is one with three decimals; in English it is a thousand.
    """
    stripped = text.strip()
    if _PLAIN.fullmatch(stripped):
        return Decimal(stripped)
    if not _NUMERIC.fullmatch(stripped):
        raise ValueError(f"not a number: {text!r}")
    loc = locale(lang)
    group = loc.number_symbols["latn"]["group"]
    if group.isspace():
        stripped = _SPACES.sub(group, stripped)
    try:
        value = parse_decimal(stripped, locale=loc, strict=True)
    except (NumberFormatError, InvalidOperation) as exc:
        raise ValueError(f"not a number in {lang}: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return value
