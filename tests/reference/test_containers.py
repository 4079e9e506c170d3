"""ISO 6346 container numbers: an officer can trust that a misread or mistyped container number
on a declaration or a cargo report is caught, and that a real one is never refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avance.reference.containers import (
    CHARACTER_VALUES,
    LETTER_VALUES,
    check_digit,
    container_check_digit,
    container_check_digit_ok,
)

# Worked examples published with the algorithm, each from a second source besides the standard:
KNOWN = [
    "CSQU3054383",  # Wikipedia, "ISO 6346", worked example (also Lobster data platform's function docs)
    "MWCU6059784",  # prefixlist.com, "Calculate the Check Digit": sum 7858, remainder 4
    "ABCU1234560",  # "Container's Check Digit" app description: ABCU123456 gives 0
]

prefixes = st.builds(
    lambda letters, serial: letters + serial,
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)


def _remainder(body: str) -> int:
    return sum(CHARACTER_VALUES[ch] << i for i, ch in enumerate(body)) % 11


def test_letters_are_valued_from_10_skipping_the_multiples_of_11():
    assert (LETTER_VALUES["A"], LETTER_VALUES["B"], LETTER_VALUES["K"], LETTER_VALUES["L"]) == (10, 12, 21, 23)
    assert (LETTER_VALUES["U"], LETTER_VALUES["V"], LETTER_VALUES["Z"]) == (32, 34, 38)
    assert not any(value % 11 == 0 for value in LETTER_VALUES.values())
    assert len(CHARACTER_VALUES) == 36 and CHARACTER_VALUES["7"] == 7
    assert check_digit("CSQU305438") == 3  # the weighting alone, any length (the EU MRN uses it on 17)


@pytest.mark.parametrize("container_id", KNOWN)
def test_published_container_numbers_validate(container_id):
    assert container_check_digit(container_id[:10]) == int(container_id[10])
    assert container_check_digit_ok(container_id)


def test_a_remainder_of_10_gives_check_digit_0():
    # CSQU305438 sums to 6185; serial 305430 takes 8 x 2**9 = 4096 off: 2089 = 11 x 189 + 10
    assert _remainder("CSQU305430") == 10
    assert container_check_digit("CSQU305430") == 0
    assert container_check_digit_ok("CSQU3054300")


@pytest.mark.parametrize(
    "wrong",
    [
        "CSQU3054384",  # wrong check digit
        "CSQU3054833",  # two digits swapped
        "CSOU3054383",  # O read for Q
        "CSQU305438",  # no check digit
        "CSQU30543833",  # one digit too many
        "csqu3054383",  # lower case
        "CSQU305438X",  # a letter for the check digit
        "CSQ03054383",  # a digit where the category goes
    ],
)
def test_misread_or_malformed_numbers_are_refused(wrong):
    assert not container_check_digit_ok(wrong)


@pytest.mark.parametrize("prefix", ["CSQU30543", "CSQU3054383", "CSQ1305438", "csqu305438"])
def test_only_a_ten_character_prefix_gets_a_check_digit(prefix):
    with pytest.raises(ValueError):
        container_check_digit(prefix)


@given(prefixes)
def test_every_prefix_has_exactly_one_check_digit_that_validates(prefix):
    digit = container_check_digit(prefix)
    assert 0 <= digit <= 9
    assert [d for d in range(10) if container_check_digit_ok(f"{prefix}{d}")] == [digit]


@given(prefixes, st.integers(min_value=4, max_value=9), st.sampled_from("0123456789"))
def test_a_misread_serial_digit_is_caught(prefix, position, replacement):
    """Each position weighs 2**position, never 0 modulo 11, so one wrong serial digit always
    changes the remainder; only remainders 10 and 0 share a check digit (the standard's blind
    spot, which is why owners avoid serials whose remainder is 10)."""
    changed = prefix[:position] + replacement + prefix[position + 1 :]
    if changed == prefix or {_remainder(prefix), _remainder(changed)} == {0, 10}:
        return
    assert not container_check_digit_ok(f"{changed}{container_check_digit(prefix)}")
