"""``avance duty``: the duties and taxes on one item, as a table or JSON.

An officer or a broker checks a liquidation without a node: the country's profile and schedule
ship with Avance, and a foreign value is converted at the CFA franc's euro peg, or with the local
node's rates when one is set up here. It behaves like every other command (``avance.kit.cli``):
help and messages in the operator's language (``AVANCE_LANG``), numbers typed and shown in that
language, and bad input answered with one line on stderr and exit code 2. The JSON output is for
scripts: plain decimal strings, whatever the language.

``duty`` is a plain function; the command line's root registers it (``app.command("duty")(duty)``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import pycountry
import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from avance.kit import formatting
from avance.kit.cli import fail, lang, language_chosen, money, number, open_store, out, parse_date
from avance.kit.errors import ConfigurationError
from avance.kit.i18n import t
from avance.kit.money import is_currency, round_money
from avance.reference.rates import NoExchangeRate, RateTable
from avance.reference.service import load_rates
from avance.revenue.calculator import MAX_DECIMALS, MAX_VALUE, DutyBreakdown, DutyItemInput, NoTariffLine, compute_duties
from avance.revenue.profiles import ProfileError, UnknownCountryProfile, available_profiles, load_profile
from avance.revenue.schedule import Schedule, ScheduleError

_HS = re.compile(r"[0-9]{6,10}")


def _help(key: str) -> str:
    """Option help in the operator's language."""
    return t(f"revenue.help.{key}", lang())


def duty(
    country: Annotated[str, typer.Option("--country", help=_help("country"))],
    hs: Annotated[str, typer.Option("--hs", help=_help("hs"))],
    origin: Annotated[str, typer.Option("--origin", help=_help("origin"))],
    value: Annotated[str, typer.Option("--value", help=_help("value"))],
    currency: Annotated[str, typer.Option("--currency", help=_help("currency"))],
    fob: Annotated[Optional[str], typer.Option("--fob", help=_help("fob"))] = None,
    date_: Annotated[Optional[str], typer.Option("--date", help=_help("date"))] = None,
    schedule: Annotated[Optional[Path], typer.Option("--schedule", help=_help("schedule"))] = None,
    preference: Annotated[bool, typer.Option("--preference", help=_help("preference"))] = False,
    json_: Annotated[bool, typer.Option("--json", help=_help("json"))] = False,
    lang_: Annotated[Optional[str], typer.Option("--lang", help=_help("lang"))] = None,
) -> None:
    """Duties and taxes on one imported item (``--lang`` overrides ``AVANCE_LANG`` for this run)."""
    with language_chosen(lang_):
        breakdown = _assess(country, hs, origin, value, currency, fob, date_, schedule, preference)
        if json_:
            typer.echo(json.dumps(breakdown.to_dict(lang()), ensure_ascii=False))
        else:
            out.print(_table(breakdown))


def _fail(key: str, /, **params: object) -> NoReturn:
    """One line in the operator's language, exit code 2 (``avance.kit.cli.fail``)."""
    fail(t(f"revenue.{key}", lang(), **params))


def _assess(
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
    language = lang()
    country = country.strip().upper()
    try:
        profile = load_profile(country)
    except UnknownCountryProfile:
        _fail("duty.error.unknown_country", country=country, available=", ".join(available_profiles()))
    except ProfileError as exc:
        _fail("duty.error.broken_profile", country=country, detail=str(exc))
    hs = hs.strip()
    if not _HS.fullmatch(hs):
        _fail("duty.error.bad_hs", hs=hs)
    origin = origin.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", origin) or pycountry.countries.get(alpha_2=origin) is None:
        _fail("duty.error.unknown_origin", origin=origin)
    currency = currency.strip().upper()
    if not is_currency(currency):
        _fail("duty.error.unknown_currency", currency=currency)
    customs_value = _amount("--value", value)
    fob_value = _amount("--fob", fob) if fob is not None else customs_value
    on = parse_date(date_, "--date") or datetime.now(UTC).date()
    if currency != profile.currency:
        rate = _rate(country, profile.currency, currency, on)
        customs_value = round_money(customs_value * rate, profile.currency)
        fob_value = round_money(fob_value * rate, profile.currency)
    try:
        schedule = Schedule.from_csv(schedule_path) if schedule_path is not None else Schedule.default(country)
    except ScheduleError as exc:
        if exc.row is None:
            _fail("duty.error.schedule", file=exc.source, reason=exc.reason(language))
        _fail("duty.error.schedule_row", file=exc.source, row=exc.row, reason=exc.reason(language))
    item = DutyItemInput(hs, origin, customs_value, fob_value, preference)
    try:
        return compute_duties(profile, schedule, item, on)
    except NoTariffLine:
        _fail("duty.error.no_tariff_line", country=country, hs=hs, date=on.isoformat())


def _rate(country: str, national: str, currency: str, on: date) -> Decimal:
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
        _fail("duty.error.currency_mismatch", expected=national, country=country, currency=currency, date=on.isoformat())


def _node_rates(country: str, national: str) -> RateTable:
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


def _amount(option: str, text: str) -> Decimal:
    """A value typed in the operator's language (``10000000,50`` in French) or in plain form."""
    try:
        amount = formatting.parse_number(text, lang())
    except ValueError:
        amount = None
    if amount is None or amount < 0:
        _fail("duty.error.bad_amount", option=option, value=text)
    if amount >= MAX_VALUE or amount.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        _fail("duty.error.amount_limits", option=option, value=text, decimals=MAX_DECIMALS)
    return amount


def _table(breakdown: DutyBreakdown) -> Table:
    language = lang()
    currency = breakdown.currency
    table = Table(
        title=t("revenue.duty.table.title", language, country=breakdown.country, date=breakdown.date, currency=currency),
        caption=t("revenue.duty.table.customs_value", language, value=money(breakdown.customs_value, currency), currency=currency),
    )
    table.add_column(t("revenue.duty.table.code", language))
    table.add_column(t("revenue.duty.table.line", language))
    table.add_column(t("revenue.duty.table.base", language), justify="right")
    table.add_column(t("revenue.duty.table.rate", language), justify="right")
    table.add_column(t("revenue.duty.table.amount", language), justify="right")
    for line in breakdown.lines:
        rate = "" if line.rate is None else number(line.rate.normalize())
        table.add_row(Text(line.code), Text(line.name(language)), money(line.base, currency), rate, money(line.amount, currency))
    table.add_section()
    table.add_row("", t("revenue.duty.table.total", language), "", "", money(breakdown.total, currency), style="bold")
    return table
