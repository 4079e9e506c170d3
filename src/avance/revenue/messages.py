"""The revenue package's user-facing messages, French and English, from ``messages.yaml``.

``t(key, lang, **params)`` mirrors ``avance.i18n.t`` so that moving these keys into the shared
catalog later changes imports only.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES: tuple[str, ...] = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """Every message: ``{key: {"fr": ..., "en": ...}}``."""
    text = resources.files(__package__).joinpath("messages.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return {str(key): {str(lang): str(msg) for lang, msg in texts.items()} for key, texts in data.items()}


def language(value: str | None) -> str | None:
    """``fr`` or ``en`` from a language tag such as ``fr``, ``EN``, ``fr_SN.UTF-8``; else None."""
    if not value:
        return None
    primary = value.strip().replace("-", "_").split("_")[0].split(".")[0].lower()
    return primary if primary in LANGUAGES else None


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Render message ``key`` in ``lang`` (French when ``lang`` is not supported)."""
    texts = catalog()[key]
    template = texts.get(lang) or texts[DEFAULT_LANGUAGE]
    return template.format(**params)
