"""The revenue package's user-facing messages: the ``revenue.*`` keys of the shared catalogs."""

from __future__ import annotations

from typing import Any

from avance.kit import i18n

LANGUAGES: tuple[str, ...] = i18n.LANGUAGES
DEFAULT_LANGUAGE = i18n.DEFAULT_LANGUAGE
PREFIX = "revenue."


def catalog() -> dict[str, dict[str, str]]:
    """Every revenue message: ``{key: {"fr": ..., "en": ...}}`` (keys without the prefix)."""
    keys = [k for k in i18n.catalog(DEFAULT_LANGUAGE) if k.startswith(PREFIX)]
    return {k[len(PREFIX) :]: {lang: i18n.catalog(lang)[k] for lang in LANGUAGES} for k in keys}


def language(value: str | None) -> str | None:
    """``fr`` or ``en`` from a language tag such as ``fr``, ``EN``, ``fr_SN.UTF-8``; else None."""
    if not value:
        return None
    primary = value.strip().replace("-", "_").split("_")[0].split(".")[0].lower()
    return primary if primary in LANGUAGES else None


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Render revenue message ``key`` in ``lang`` (French when ``lang`` is not supported)."""
    if PREFIX + key not in i18n.catalog(DEFAULT_LANGUAGE):
        raise KeyError(key)
    return i18n.t(PREFIX + key, lang, **params)
