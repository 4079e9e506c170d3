"""``avance profiles``: selectivity profiles from the command line.

The command line acts as an administrator named by ``--author`` (default: the operating-system
user; ``avance.auth.cli.operator``), so that every saved version says who made it. Errors end in
one line and exit code 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from avance.auth.cli import operator
from avance.auth.model import SYSTEM
from avance.kit.cli import H, AuthorOption, fail, headed_table, lang, money, number, open_store, out, parse_date, percent
from avance.kit.i18n import t
from avance.store.engine import write

profiles_app = typer.Typer(help=H("profiles"), no_args_is_help=True)


@profiles_app.command("list", help=H("profiles.list"))
def list_profiles(
    active: Annotated[Optional[bool], typer.Option("--active/--inactive", help=H("profiles.active"), show_default=False)] = None,
) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    with open_store().engine.connect() as conn:
        records = profiles.list_profiles(conn, SYSTEM, active=active)
    if not records:
        out.print(t("profiles.none", lang()), markup=False)
        return
    language = lang()
    table = headed_table("id", "version_short", "active", "lane", "score", "valid", "description")
    table.columns[0].no_wrap = True
    for r in records:
        rule = r.rule
        validity = f"{rule.valid_from or ''} → {rule.valid_to or ''}" if rule.valid_from or rule.valid_to else ""
        table.add_row(
            rule.id,
            str(rule.version),
            "✓" if rule.active else "✗",
            rule.lane.value if rule.lane else "",
            str(rule.score),
            validity,
            rule.description.fr if language == "fr" else rule.description.en,
        )
    out.print(table)


@profiles_app.command("show", help=H("profiles.show"))
def show(profile_id: Annotated[str, typer.Argument(metavar="ID", help=H("profiles.id"))]) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    with open_store().engine.connect() as conn:
        record = profiles.get_record(conn, profile_id, SYSTEM)
        history = profiles.profile_history(conn, profile_id, SYSTEM)
    out.print(profiles.profile_yaml(record.rule).rstrip(), markup=False, highlight=False)
    out.print(t("profiles.versions", lang(), id=profile_id), markup=False)
    table = headed_table("version", "change", "author", "saved_at")
    for v in history:
        table.add_row(str(v.version), v.change, v.author, v.saved_at.isoformat())
    out.print(table)


@profiles_app.command("import", help=H("profiles.import"))
def import_profiles(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help=H("profiles.file"))],
    replace: Annotated[bool, typer.Option("--replace", help=H("profiles.replace"))] = False,
    author: AuthorOption = None,
) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    principal = operator(author)
    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: {getattr(exc, 'strerror', None) or type(exc).__name__}")
    with write(open_store().engine) as conn:
        report = profiles.import_yaml(conn, text, principal, replace=replace)
    counts = {k: len(getattr(report, k)) for k in ("created", "updated", "unchanged", "deactivated")}
    out.print(t("profiles.imported", lang(), **counts), markup=False)
    if report.settings_changed:
        out.print(t("profiles.settings_changed", lang()), markup=False)


@profiles_app.command("export", help=H("profiles.export"))
def export(file: Annotated[Optional[Path], typer.Argument(metavar="[FILE.yaml]", help=H("profiles.out"), show_default=False)] = None) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    with open_store().engine.connect() as conn:
        text = profiles.export_yaml(conn)
        count = len(profiles.list_profiles(conn, SYSTEM))
    if file is None:
        print(text, end="")
        return
    partial = file.with_name(f".{file.name}.part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"{file}: {exc.strerror or type(exc).__name__}")
    out.print(t("profiles.exported", lang(), count=count, path=file), markup=False)


@profiles_app.command("deactivate", help=H("profiles.deactivate"))
def deactivate(profile_id: Annotated[str, typer.Argument(metavar="ID", help=H("profiles.id"))], author: AuthorOption = None) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    principal = operator(author)
    with write(open_store().engine) as conn:
        profiles.deactivate_profile(conn, profile_id, principal)
        rule = profiles.get_profile(conn, profile_id, principal)
    out.print(t("profiles.deactivated", lang(), id=rule.id, version=rule.version), markup=False)


@profiles_app.command("stats", help=H("profiles.stats"))
def stats(
    since: Annotated[Optional[str], typer.Option("--since", metavar="YYYY-MM-DD", help=H("profiles.since"))] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="YYYY-MM-DD", help=H("profiles.until"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=H("profiles.json"))] = False,
) -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    start, end = parse_date(since, "--since"), parse_date(until, "--until")
    with open_store().engine.connect() as conn:
        rows = profiles.profile_stats(conn, since=start, until=end)
    if as_json:
        print(json.dumps({"since": since, "until": until, "items": [r.to_dict() for r in rows]}, ensure_ascii=False, indent=2))
        return
    if not rows:
        out.print(t("profiles.none", lang()), markup=False)
        return
    none = t("profiles.no_inspection", lang())
    table = headed_table("id", "active", "hits", "inspected", "frauds", "hit_rate", "extra_duty")
    for r in rows:
        table.add_row(
            r.profile_id,
            "" if r.active is None else str(r.active),
            str(r.hits),
            str(r.inspected),
            str(r.frauds),
            none if r.hit_rate is None else percent(r.hit_rate),
            f"{money(r.extra_duty, r.currency)} {r.currency}" if r.currency else number(r.extra_duty),
        )
    out.print(table)


@profiles_app.command("backfill-hits", help=H("profiles.backfill"))
def backfill_hits() -> None:
    from avance.risk.profiles import service as profiles  # loads when the command runs: start-up time

    with write(open_store().engine) as conn:
        count = profiles.backfill_hits(conn)
    out.print(t("profiles.backfilled", lang(), count=count), markup=False)
