"""A value outside a list is answered with the allowed values and the caller's words only: no
English "or" in a French message."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from avance.kit.errors import ValidationFailed
from avance.kit.validation import parse


class _Choice(BaseModel):
    lane: Literal["green", "blue", "yellow", "red"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_allowed_values_of_a_list_are_shown_without_english_glue(lang: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse(_Choice, {"lane": "purple"})
    message = refused.value.issues[0].message(lang)
    assert "'green', 'blue', 'yellow', 'red'" in message
    assert " or " not in message
