"""An officer reads and types numbers the way their language writes them; the amount stays exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avance.kit.formatting import money, number, parse_number, percent

# Amounts as Avance keeps them: below 10^18, at most six decimals (avance.revenue.calculator).
amounts = st.decimals(min_value=Decimal("-1e18") + 1, max_value=Decimal("1e18") - 1, places=6, allow_nan=False, allow_infinity=False)
languages = st.sampled_from(["fr", "en"])


@given(amounts, languages)
def test_a_number_formatted_then_parsed_is_the_same_decimal(value, lang):
    assert parse_number(number(value, lang), lang) == value


@given(amounts, st.sampled_from(["XOF", "XAF", "NGN", "GHS", "EUR", "USD"]), languages)
def test_money_formatted_then_parsed_is_the_same_decimal(value, currency, lang):
    assert parse_number(money(value, currency, lang), lang) == value


@given(amounts, languages)
def test_the_plain_form_of_files_and_scripts_is_read_in_both_languages(value, lang):
    assert parse_number(format(value, "f"), lang) == value


def test_french_groups_with_a_narrow_no_break_space_and_writes_a_decimal_comma():
    assert number(Decimal("4431400"), "fr") == "4\u202f431\u202f400"
    assert number(Decimal("12345.678901"), "fr") == "12\u202f345,678901"
    assert number(0.87, "fr", 3) == "0,870"
    assert percent(0.123, "fr") == "12,3\u00a0%"
    assert money(Decimal("2201400"), "XOF", "fr") == "2\u202f201\u202f400"
    assert money(Decimal("1000.5"), "NGN", "fr") == "1\u202f000,50"


def test_english_groups_with_commas_and_writes_a_decimal_point():
    assert number(Decimal("4431400"), "en") == "4,431,400"
    assert number(0.87, "en", 3) == "0.870"
    assert percent(0.123, "en") == "12.3%"
    assert money(Decimal("1000.5"), "NGN", "en") == "1,000.50"


def test_money_never_hides_a_digit_beyond_the_minor_units():
    assert money(Decimal("800.505"), "NGN", "en") == "800.505"
    assert money(Decimal("1000.25"), "XOF", "en") == "1,000.25"


@pytest.mark.parametrize(
    ("typed", "lang", "value"),
    [
        ("10000000,50", "fr", "10000000.50"),
        ("10 000 000,50", "fr", "10000000.50"),
        ("10\u00a0000\u00a0000,50", "fr", "10000000.50"),
        ("10000000.50", "fr", "10000000.50"),
        ("1,000", "fr", "1.000"),  # a decimal comma in French
        ("1,000", "en", "1000"),  # a thousands separator in English
        ("10,000,000.50", "en", "10000000.50"),
        (" 42 ", "en", "42"),
    ],
)
def test_what_an_operator_types_is_read_in_their_language(typed, lang, value):
    assert parse_number(typed, lang) == Decimal(value)


@pytest.mark.parametrize(
    ("typed", "lang"),
    [("10000000,50", "en"), ("10,000,000", "fr"), ("1,00", "en"), ("beaucoup", "fr"), ("", "en"), ("NaN", "fr"), ("Infinity", "en"), ("1_000", "en")],
)
def test_what_is_not_a_number_in_that_language_is_refused(typed, lang):
    with pytest.raises(ValueError):
        parse_number(typed, lang)
