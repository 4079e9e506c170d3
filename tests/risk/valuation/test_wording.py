"""The numbers of a valuation flag's reason, as the officer reads them in French and English: unit
values as precise as their size calls for, percentages whole, both rounded half up like money.
The reasons are stored with each decision, so these forms must not drift."""

from __future__ import annotations

from decimal import Decimal

import pytest

from avance.risk.valuation.check import percent_text, unit_value_text


@pytest.mark.parametrize(
    ("value", "fr", "en"),
    [
        ("4800", "4\u202f800", "4,800"),  # from 100: whole units, thousands grouped
        ("1234567.5", "1\u202f234\u202f568", "1,234,568"),  # half up, not to even
        ("1250.5", "1\u202f251", "1,251"),
        ("2.345", "2,35", "2.35"),  # from 1: hundredths
        ("0.5", "0,5000", "0.5000"),  # below 1: four decimals
        ("0.00125", "0,0013", "0.0013"),
    ],
)
def test_a_unit_value_is_written_as_precisely_as_its_size_calls_for(value, fr, en):
    assert (unit_value_text(Decimal(value), "fr"), unit_value_text(Decimal(value), "en")) == (fr, en)


@pytest.mark.parametrize(
    ("ratio", "fr", "en"),
    [
        ("0.2604", "26\u00a0%", "26%"),
        ("0.2650", "27\u00a0%", "27%"),  # half up, not to even
        ("0.0050", "1\u00a0%", "1%"),
        ("15.0000", "1500\u00a0%", "1500%"),  # far above an override's maximum: never grouped
    ],
)
def test_a_ratio_to_the_reference_is_a_whole_percentage(ratio, fr, en):
    assert (percent_text(Decimal(ratio), "fr"), percent_text(Decimal(ratio), "en")) == (fr, en)
