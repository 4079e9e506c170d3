"""``avance valuation``: build the references, look one up, keep the value-control file.

Unit values are shown, and bounds typed, in the operator's language (``avance.kit.cli``); the
JSON output and the CSV file keep the plain decimal form scripts and spreadsheets read.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.table import Table

from avance.auth.cli import operator
from avance.kit import formatting
from avance.kit.cli import H, AuthorOption, author, fail, lang, number, open_store, out, parse_date
from avance.kit.errors import Issue, NotFound, ValidationFailed
from avance.kit.i18n import t
from avance.reference import is_country
from avance.store.engine import write

valuation_app = typer.Typer(help=H("valuation"), no_args_is_help=True)
overrides_app = typer.Typer(help=H("valuation.overrides"), no_args_is_help=True)
valuation_app.add_typer(overrides_app, name="overrides")

_LINE = re.compile(r"^/lines/([0-9]+)(?:/(\w+))?$")
_OPTIONS = {"hs": "--hs", "origin": "--origin", "unit": "--unit", "min": "--min", "max": "--max", "valid_from": "--valid-from", "valid_to": "--valid-to", "note": "--note"}


def _typed(value: str | None) -> Decimal | str | None:
    """A bound as the operator typed it, in their language (``1500,5`` in French): a ``Decimal``,
    or the text itself when it is no number, for the service to report with every other problem."""
    if value is None:
        return None
    try:
        return formatting.parse_number(value, lang())
    except ValueError:
        return value


def _shown(value: Decimal | None, empty: str = "") -> str:
    """A unit value in the operator's language, every digit it has (``empty`` when there is none)."""
    return empty if value is None else number(value.normalize())


def _fail_issues(issues: list[Issue]) -> NoReturn:
    """One line: each problem with its line number (files) or its option (command line)."""
    parts = []
    for issue in issues:
        message = issue.message(lang()).rstrip(".")
        line = _LINE.match(issue.pointer)
        if line:
            parts.append(t("valuation.cli_line", lang(), line=line.group(1), column=line.group(2) or "-", message=message))
        else:
            name = issue.pointer.strip("/")
            parts.append(f"{_OPTIONS.get(name, name or '-')}: {message}")
    fail("; ".join(parts))


@valuation_app.command("build", help=H("valuation.build"))
def build(
    since: Annotated[Optional[str], typer.Option("--since", help=H("valuation.since"))] = None,
    until: Annotated[Optional[str], typer.Option("--until", help=H("valuation.until"))] = None,
    min_count: Annotated[int, typer.Option("--min-count", min=1, max=1_000_000, help=H("valuation.min_count"))] = 10,
    k: Annotated[float, typer.Option("--k", min=0.1, max=20.0, help=H("valuation.k"))] = 3.0,
    floor_q10: Annotated[bool, typer.Option("--floor-q10/--no-floor-q10", help=H("valuation.floor_q10"))] = False,
) -> None:
    """Build the references from the lodged declarations and replace the stored snapshot."""
    from avance.risk.valuation.model import LEVELS  # loads when the command runs: start-up time
    from avance.risk.valuation.service import rebuild  # loads when the command runs: start-up time

    start, end = parse_date(since, "--since"), parse_date(until, "--until")
    node = open_store()
    try:
        with write(node.engine) as conn:
            index = rebuild(conn, since=start, until=end, min_count=min_count, k=k, floor_q10=floor_q10)
    except ValidationFailed as exc:
        _fail_issues(exc.issues)
    counts, usable = index.counts(), index.usable_counts()
    table = Table(t("valuation.cli_level", lang()), t("valuation.cli_references", lang()), t("valuation.cli_usable", lang(), min_count=min_count))
    for level in LEVELS:
        table.add_row(t(f"valuation.level_{level}", lang()), str(counts[level]), str(usable[level]))
    out.print(table)
    info = index.info
    assert info is not None
    out.print(
        t(
            "valuation.cli_built",
            lang(),
            used=info.items_used,
            skipped=info.items_skipped,
            excluded=info.declarations_excluded,
            at=info.built_at.isoformat(timespec="seconds"),
        ),
        markup=False,
    )


@valuation_app.command("show", help=H("valuation.show"))
def show(
    hs: Annotated[str, typer.Option("--hs", help=H("valuation.hs"))],
    origin: Annotated[Optional[str], typer.Option("--origin", help=H("valuation.origin"))] = None,
    unit: Annotated[str, typer.Option("--unit", help=H("valuation.unit"))] = "KGM",
    on: Annotated[Optional[str], typer.Option("--on", help=H("valuation.on"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=H("valuation.json"))] = False,
) -> None:
    """The reference used for a line, with the level it falls back to, and every level's statistics."""
    from avance.risk.valuation.check import unit_label  # loads when the command runs: start-up time
    from avance.risk.valuation.model import plain  # loads when the command runs: start-up time
    from avance.risk.valuation.service import load_index  # loads when the command runs: start-up time

    if not re.fullmatch(r"[0-9]{4,10}", hs):
        fail(t("cli.bad_option", lang(), option="--hs", value=hs))
    if origin is not None:
        origin = origin.upper()
        if not (re.fullmatch(r"[A-Z]{2}", origin) and is_country(origin)):
            fail(t("cli.bad_option", lang(), option="--origin", value=origin))
    unit = unit.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,3}", unit):
        fail(t("cli.bad_option", lang(), option="--unit", value=unit))
    day = parse_date(on, "--on") or datetime.now(timezone.utc).date()
    node = open_store()
    with node.engine.connect() as conn:
        index = load_index(conn, hs=hs)
    reference = index.reference(hs, origin or "", unit, day)
    if reference is None:
        raise NotFound("valuation.no_reference", hs=hs, origin=origin or "-", unit=unit)
    levels = index.candidates(hs, origin, unit)
    if as_json:
        stats = [(index.stats(r.level, r.hs, r.origin, r.unit), r) for r in levels]
        levels_json = [(s.to_dict() if s else {}) | {"low": plain(r.low), "high": plain(r.high), "sufficient": r.sufficient} for s, r in stats]
        print(json.dumps({"hs": hs, "origin": origin, "unit": unit, "on": day.isoformat(), "currency": index.currency, "reference": reference.to_dict(), "levels": levels_json}, ensure_ascii=False))
        return
    currency = index.currency or ""
    level = t(f"valuation.level_{reference.level}", lang())
    out.print(
        t(
            "valuation.cli_reference",
            lang(),
            level=level,
            hs=reference.hs,
            median=_shown(reference.median),
            low=_shown(reference.low, "-"),
            high=_shown(reference.high, "-"),
            currency=currency,
            unit=unit_label(unit, lang()),
            n=reference.n,
        ),
        markup=False,
    )
    if not reference.sufficient:
        out.print(t("valuation.cli_sparse", lang(), min_count=index.min_count), markup=False)
    if reference.override is not None:
        o = reference.override
        out.print(t("valuation.cli_override", lang(), id=o.id, min=_shown(o.minimum, "-"), max=_shown(o.maximum, "-"), author=o.author, note=o.note or ""), markup=False)
    if not levels:
        return
    table = Table(t("valuation.cli_level", lang()), *(t(f"valuation.level_{r.level}", lang()) + ("" if r.sufficient else " *") for r in levels))
    found = [index.stats(r.level, r.hs, r.origin, r.unit) for r in levels]
    table.add_row(t("valuation.cli_hs", lang()), *(r.hs + (f" {r.origin}" if r.origin else "") for r in levels))
    table.add_row("n", *(number(s.n) if s else "" for s in found))
    for name, attribute in (("q10", "q10"), ("q25", "q25"), (t("valuation.cli_median", lang()), "median"), ("q75", "q75"), ("q90", "q90")):
        table.add_row(name, *(_shown(getattr(s, attribute)) if s else "" for s in found))
    table.add_row("MAD (log)", *(number(s.mad_log, 4) if s else "" for s in found))
    table.add_row(t("valuation.cli_low", lang()), *(_shown(r.low) for r in levels))
    table.add_row(t("valuation.cli_high", lang()), *(_shown(r.high) for r in levels))
    out.print(table)
    if not all(r.sufficient for r in levels):
        out.print(t("valuation.cli_star", lang(), min_count=index.min_count), markup=False)


def _override_table(found: list[Any]) -> Table:
    table = Table("id", "HS", t("valuation.cli_origin", lang()), "unit", "min", "max", "valid_from", "valid_to", t("valuation.cli_author", lang()), "note")
    for o in found:
        d = o.to_dict()
        table.add_row(str(d["id"]), d["hs"], d["origin"] or "*", d["unit"] or "*", _shown(o.minimum), _shown(o.maximum), d["valid_from"] or "", d["valid_to"] or "", d["author"], d["note"] or "")
    return table


@overrides_app.command("list", help=H("valuation.overrides.list"))
def overrides_list(
    hs: Annotated[Optional[str], typer.Option("--hs", help=H("valuation.overrides.hs"))] = None,
    on: Annotated[Optional[str], typer.Option("--on", help=H("valuation.overrides.on"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=H("valuation.json"))] = False,
) -> None:
    """The value-control file."""
    from avance.risk.valuation.service import list_overrides  # loads when the command runs: start-up time

    if hs is not None and not re.fullmatch(r"[0-9]{1,10}", hs):
        fail(t("cli.bad_option", lang(), option="--hs", value=hs))
    day = parse_date(on, "--on")
    node = open_store()
    with node.engine.connect() as conn:
        found = list_overrides(conn, hs=hs, on=day)
    if as_json:
        print(json.dumps([o.to_dict() for o in found], ensure_ascii=False))
        return
    out.print(_override_table(found))
    out.print(t("valuation.cli_count", lang(), count=len(found)), markup=False)


@overrides_app.command("set", help=H("valuation.overrides.set"))
def overrides_set(
    hs: Annotated[str, typer.Option("--hs", help=H("valuation.overrides.prefix"))],
    minimum: Annotated[Optional[str], typer.Option("--min", help=H("valuation.overrides.min"))] = None,
    maximum: Annotated[Optional[str], typer.Option("--max", help=H("valuation.overrides.max"))] = None,
    origin: Annotated[Optional[str], typer.Option("--origin", help=H("valuation.overrides.origin"))] = None,
    unit: Annotated[Optional[str], typer.Option("--unit", help=H("valuation.overrides.unit"))] = None,
    valid_from: Annotated[Optional[str], typer.Option("--valid-from", help=H("valuation.overrides.valid_from"))] = None,
    valid_to: Annotated[Optional[str], typer.Option("--valid-to", help=H("valuation.overrides.valid_to"))] = None,
    note: Annotated[Optional[str], typer.Option("--note", help=H("valuation.overrides.note"))] = None,
    author_: AuthorOption = None,
) -> None:
    """Set bounds on a line's unit value; the override with the same key is replaced."""
    from avance.risk.valuation.overrides_file import override_from_fields  # loads when the command runs: start-up time
    from avance.risk.valuation.service import set_override  # loads when the command runs: start-up time

    fields = {
        "hs": hs,
        "origin": origin,
        "unit": unit,
        "min": _typed(minimum),
        "max": _typed(maximum),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "note": note,
    }
    override, issues = override_from_fields(fields, author=author(author_))
    if override is None:
        _fail_issues(issues)
    node = open_store()
    with write(node.engine) as conn:
        stored, created = set_override(conn, override, actor=operator(author_))
    out.print(t("valuation.cli_set" if created else "valuation.cli_replaced", lang(), id=stored.id, hs=stored.hs_prefix), markup=False)


@overrides_app.command("remove", help=H("valuation.overrides.remove"))
def overrides_remove(override_id: Annotated[int, typer.Argument(min=1, max=2_147_483_647, help=H("valuation.overrides.id"))]) -> None:
    """Remove a line of the value-control file."""
    from avance.risk.valuation.service import remove_override  # loads when the command runs: start-up time

    node = open_store()
    with write(node.engine) as conn:
        removed = remove_override(conn, override_id, actor=operator())
    out.print(t("valuation.cli_removed", lang(), id=override_id, hs=removed.hs_prefix), markup=False)


@overrides_app.command("import", help=H("valuation.overrides.import"))
def overrides_import(
    file: Annotated[Path, typer.Argument(help=H("valuation.overrides.file"))],
    replace: Annotated[bool, typer.Option("--replace", help=H("valuation.overrides.replace"))] = False,
    author_: AuthorOption = None,
) -> None:
    """Load a value-control file: every line is checked first; one bad line and nothing is stored."""
    from avance.risk.valuation.overrides_file import parse_overrides_csv  # loads when the command runs: start-up time
    from avance.risk.valuation.service import import_overrides  # loads when the command runs: start-up time

    name = author(author_)
    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    try:
        overrides = parse_overrides_csv(file.read_bytes(), author=name)
    except ValidationFailed as exc:
        _fail_issues(exc.issues)
    node = open_store()
    with write(node.engine) as conn:
        result = import_overrides(conn, overrides, replace_all=replace, actor=operator(author_))
    out.print(t("valuation.cli_imported", lang(), created=result.created, replaced=result.replaced, removed=result.removed), markup=False)


@overrides_app.command("export", help=H("valuation.overrides.export"))
def overrides_export(file: Annotated[Path, typer.Argument(help=H("valuation.overrides.out"))]) -> None:
    """Write the value-control file as CSV (``-``: standard output)."""
    from avance.risk.valuation.overrides_file import overrides_csv  # loads when the command runs: start-up time
    from avance.risk.valuation.service import list_overrides  # loads when the command runs: start-up time

    node = open_store()
    with node.engine.connect() as conn:
        found = list_overrides(conn)
    text = overrides_csv(found)
    if str(file) == "-":
        sys.stdout.write(text)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(t("valuation.cli_write_failed", lang(), path=file, reason=exc.strerror or type(exc).__name__))
    out.print(t("valuation.cli_exported", lang(), count=len(found), path=file), markup=False)
