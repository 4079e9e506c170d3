"""Messages shown to users, in French and English, from the YAML catalogs beside this file.

Each catalog is a flat mapping ``key: message`` with ``str.format`` placeholders: ``fr.yaml`` and
``en.yaml``, plus one part per area in ``fr/*.yaml`` and ``en/*.yaml`` (a key may be defined only
once). Both catalogs hold the same keys (a test checks it). French is the default: most users
work in French.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES: tuple[str, ...] = ("fr", "en")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is there: faster CLI start
DEFAULT_LANGUAGE = "fr"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of ``lang`` (``fr`` or ``en``)."""
    root = resources.files(__package__)
    sources = [root.joinpath(f"{lang}.yaml")]
    parts = root.joinpath(lang)
    if parts.is_dir():
        sources += sorted((p for p in parts.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    merged: dict[str, str] = {}
    for source in sources:
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        for key, value in data.items():
            if str(key) in merged:
                raise ValueError(f"message {key!r} is defined twice in the {lang} catalog ({source.name})")
            merged[str(key)] = str(value)
    return merged


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Render message ``key`` in ``lang``; falls back to the other language, then to the key."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    template = catalog(lang).get(key)
    if template is None:
        for other in LANGUAGES:
            template = catalog(other).get(key)
            if template is not None:
                break
    if template is None:
        return key
    return template.format_map(_Lenient({k: _show(v) for k, v in params.items()}))


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value)
    return str(value)


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Pick ``fr`` or ``en`` from an HTTP ``Accept-Language`` header (q-values honoured)."""
    if not accept_language:
        return default
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept_language.split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if tag == "*":
            primary = default
        if primary not in LANGUAGES or quality <= 0:
            continue
        candidate = (quality, -position, primary)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else default
