"""Whatever an operator types, `avance duty` answers with a breakdown or one line and exit code 2."""

from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=14)
amounts = st.one_of(words, st.decimals(allow_nan=True, allow_infinity=True).map(str), st.integers(-(10**25), 10**25).map(str))
from tests.support import run_cli


def run_main(args: list[str]) -> tuple[int, str]:
    code, _, err = run_cli(args)
    return code, err

@settings(max_examples=150, deadline=None)
@given(
    country=st.one_of(words, st.sampled_from(["SN", "CI", "ML", "NG", "GH", "CM", "sn"])),
    hs=st.one_of(words, st.sampled_from(["8703231000", "100630", "2710", "999999"])),
    origin=st.one_of(words, st.sampled_from(["FR", "CN", "ML", "XX"])),
    value=amounts,
    fob=st.one_of(st.none(), amounts),
    when=st.one_of(st.none(), words, st.dates().map(str)),
)
def test_duty_answers_or_refuses_in_one_line(country, hs, origin, value, fob, when):
    args = ["duty", f"--country={country}", f"--hs={hs}", f"--origin={origin}", f"--value={value}", "--currency=XOF", "--json"]
    if fob is not None:
        args.append(f"--fob={fob}")
    if when is not None:
        args.append(f"--date={when}")
    code, err = run_main(args)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
