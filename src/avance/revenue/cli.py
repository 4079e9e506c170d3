"""``avance duty``: the duties and taxes on one item, as a table or JSON.

``duty`` is a plain function; the main application registers it (``app.command("duty")(duty)``).
Every message comes from ``messages.yaml`` in French or English. Bad input prints one line,
``error: ...``, on stderr and exits with status 2.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

import pycountry
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sqlalchemy.exc import SQLAlchemyError

from avance.kit.cli import open_store
from avance.kit.errors import ConfigurationError
from avance.kit.money import is_currency, round_money
from avance.reference.rates import NoExchangeRate, RateTable
from avance.reference.service import load_rates
from avance.revenue.calculator import (
    MAX_DECIMALS,
    MAX_VALUE,
    DutyBreakdown,
    DutyItemInput,
    NoTariffLine,
    compute_duties,
    rate_text,
)
from avance.revenue.messages import DEFAULT_LANGUAGE, LANGUAGES, catalog, language, t
from avance.revenue.profiles import ProfileError, UnknownCountryProfile, available_profiles, load_profile
from avance.revenue.schedule import Schedule, ScheduleError

LANG_ENV = "AVANCE_LANG"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HS = re.compile(r"[0-9]{6,10}")


def _help(key: str) -> str:
    """Option help in both languages (help is rendered before the language is known)."""
    texts = catalog()[f"help.{key}"]
    return " / ".join(texts[lang] for lang in LANGUAGES)


def duty(
    country: str = typer.Option(..., "--country", help=_help("country")),
    hs: str = typer.Option(..., "--hs", help=_help("hs")),
    origin: str = typer.Option(..., "--origin", help=_help("origin")),
    value: str = typer.Option(..., "--value", help=_help("value")),
    currency: str = typer.Option(..., "--currency", help=_help("currency")),
    fob: str | None = typer.Option(None, "--fob", help=_help("fob")),
    date_: str | None = typer.Option(None, "--date", help=_help("date")),
    schedule: Path | None = typer.Option(None, "--schedule", help=_help("schedule")),
    preference: bool = typer.Option(False, "--preference", help=_help("preference")),
    json_: bool = typer.Option(False, "--json", help=_help("json")),
    lang: str | None = typer.Option(None, "--lang", help=_help("lang")),
) -> None:
    """Droits et taxes d'un article importé / Duties and taxes on one imported item."""
    chosen = language(os.environ.get(LANG_ENV)) or DEFAULT_LANGUAGE
    if lang is not None:
        if language(lang) is None:
            _fail(chosen, "duty.error.bad_lang", lang=lang)
        chosen = language(lang) or chosen
    breakdown = _assess(chosen, country, hs, origin, value, currency, fob, date_, schedule, preference)
    if json_:
        typer.echo(json.dumps(breakdown.to_dict(chosen), ensure_ascii=False))
    else:
        Console().print(_table(breakdown, chosen))


def _assess(
    lang: str,
    country: str,
    hs: str,
    origin: str,
    value: str,
    currency: str,
    fob: str | None,
    date_: str | None,
    schedule_path: Path | None,
    preference: bool,
) -> DutyBreakdown:
    country = country.strip().upper()
    try:
        profile = load_profile(country)
    except UnknownCountryProfile:
        _fail(lang, "duty.error.unknown_country", country=country, available=", ".join(available_profiles()))
    except ProfileError as exc:
        _fail(lang, "duty.error.broken_profile", country=country, detail=str(exc))
    hs = hs.strip()
    if not _HS.fullmatch(hs):
        _fail(lang, "duty.error.bad_hs", hs=hs)
    origin = origin.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", origin) or pycountry.countries.get(alpha_2=origin) is None:
        _fail(lang, "duty.error.unknown_origin", origin=origin)
    currency = currency.strip().upper()
    if not is_currency(currency):
        _fail(lang, "duty.error.unknown_currency", currency=currency)
    customs_value = _amount(lang, "--value", value)
    fob_value = _amount(lang, "--fob", fob) if fob is not None else customs_value
    on = _date(lang, date_) if date_ is not None else datetime.now(UTC).date()
    if currency != profile.currency:
        rate = _rate(lang, country, profile.currency, currency, on)
        customs_value = round_money(customs_value * rate, profile.currency)
        fob_value = round_money(fob_value * rate, profile.currency)
    try:
        schedule = Schedule.from_csv(schedule_path) if schedule_path is not None else Schedule.default(country)
    except ScheduleError as exc:
        if exc.row is None:
            _fail(lang, "duty.error.schedule", file=exc.source, reason=exc.reason(lang))
        _fail(lang, "duty.error.schedule_row", file=exc.source, row=exc.row, reason=exc.reason(lang))
    item = DutyItemInput(hs, origin, customs_value, fob_value, preference)
    try:
        return compute_duties(profile, schedule, item, on)
    except NoTariffLine:
        _fail(lang, "duty.error.no_tariff_line", country=country, hs=hs, date=on.isoformat())


def _rate(lang: str, country: str, national: str, currency: str, on: date) -> Decimal:
    """The rate in force on ``on``: the CFA franc's euro peg, else the rate table of this
    administration's node when one is set up here (``AVANCE_DATABASE_URL`` / ``AVANCE_DATA_DIR``)."""
    table = RateTable(national)
    try:
        return table.rate(currency, on)
    except NoExchangeRate:
        pass
    try:
        table = _node_rates(country, national)
        return table.rate(currency, on)
    except NoExchangeRate:
        _fail(lang, "duty.error.currency_mismatch", expected=national, country=country, currency=currency, date=on.isoformat())


def _node_rates(country: str, national: str):  # type: ignore[no-untyped-def]
    """The exchange rates of the local node of ``country``, or an empty table when there is none."""
    try:
        store = open_store()
    except ConfigurationError:  # no local node: foreign currencies need the euro peg
        return RateTable(national)
    try:
        if store.country != country:
            return RateTable(national)
        with store.engine.connect() as conn:
            return load_rates(conn, national)
    except SQLAlchemyError:
        return RateTable(national)
    finally:
        store.engine.dispose()


def _amount(lang: str, option: str, text: str) -> Decimal:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        _fail(lang, "duty.error.bad_amount", option=option, value=text)
    if amount >= MAX_VALUE or amount.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        _fail(lang, "duty.error.amount_limits", option=option, value=text, decimals=MAX_DECIMALS)
    return amount


def _date(lang: str, text: str) -> date:
    try:
        if _DATE.fullmatch(text.strip()):
            return date.fromisoformat(text.strip())
    except ValueError:
        pass
    _fail(lang, "duty.error.bad_date", value=text)


def _fail(lang: str, key: str, /, **params: object) -> NoReturn:
    message = " ".join(t(key, lang, **params).split())  # exactly one line
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _number(value: Decimal, lang: str) -> str:
    """Thousands grouped: ``2 201 400`` / ``12 345,67`` in French, ``2,201,400`` in English."""
    text = format(value, ",f")
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def _table(breakdown: DutyBreakdown, lang: str) -> Table:
    currency = breakdown.currency
    table = Table(
        title=t("duty.table.title", lang, country=breakdown.country, date=breakdown.date, currency=currency),
        caption=t("duty.table.customs_value", lang, value=_number(breakdown.customs_value, lang), currency=currency),
    )
    table.add_column(t("duty.table.code", lang))
    table.add_column(t("duty.table.line", lang))
    table.add_column(t("duty.table.base", lang), justify="right")
    table.add_column(t("duty.table.rate", lang), justify="right")
    table.add_column(t("duty.table.amount", lang), justify="right")
    for line in breakdown.lines:
        rate = "" if line.rate is None else rate_text(line.rate)
        if lang == "fr":
            rate = rate.replace(".", ",")
        amounts = (_number(line.base, lang), rate, _number(line.amount, lang))
        table.add_row(Text(line.code), Text(line.name(lang)), *amounts)
    table.add_section()
    table.add_row("", t("duty.table.total", lang), "", "", _number(breakdown.total, lang), style="bold")
    return table
