"""``avance backup FILE``, ``avance backup verify FILE`` and ``avance restore FILE``.

The passphrase comes from ``--passphrase-file`` (its first line) or ``AVANCE_BACKUP_PASSPHRASE``;
a backup is written unencrypted only with ``--unencrypted``, since it holds the node's private keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from typer.core import TyperGroup
from sqlalchemy.engine import make_url

from avance.kit.cli import H, fail, lang, number, open_store, out, settings_from
from avance.kit.i18n import t
from avance.operations.backup import Outcome, create_backup, restore_backup, verify_backup

PASSPHRASE_ENV = "AVANCE_BACKUP_PASSPHRASE"


class _DefaultCreate(TyperGroup):
    """``avance backup FILE`` is ``avance backup create FILE``: a first word that names no
    sub-command (``verify``) is the backup's file."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["create", *args]
        return super().parse_args(ctx, args)


backup_app = typer.Typer(cls=_DefaultCreate, help=H("backup"), no_args_is_help=True)

PassphraseFile = Annotated[Optional[Path], typer.Option("--passphrase-file", help=H("backup.passphrase_file"))]


def read_passphrase(file: Path | None, *, unencrypted: bool = False) -> str | None:
    """The backup passphrase: ``--passphrase-file``'s first line, else ``AVANCE_BACKUP_PASSPHRASE``;
    None only with ``--unencrypted``; else one line and exit code 2."""
    if file is not None:
        if unencrypted:
            fail(t("backup.error.unencrypted_with_passphrase", lang()))
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            fail(t("backup.error.passphrase_file", lang(), path=file, detail=getattr(exc, "strerror", None) or type(exc).__name__))
        passphrase = lines[0] if lines else ""
        if not passphrase:
            fail(t("backup.error.passphrase_file", lang(), path=file, detail=t("backup.empty", lang())))
        return passphrase
    if unencrypted:
        return None
    return os.environ.get(PASSPHRASE_ENV) or None


def _size(size: int) -> str:
    return number(size / (1 << 20), 1)


def _summary(key: str, outcome: Outcome, **extra: Any) -> None:
    out.print(
        t(
            key,
            lang(),
            path=outcome.path,
            kind=outcome.kind,
            members=number(outcome.members),
            tables=number(outcome.tables),
            rows=number(outcome.rows),
            size=_size(outcome.size),
            seconds=number(outcome.seconds, 1),
            **extra,
        ),
        markup=False,
    )


@backup_app.command("create", help=H("backup.create"))
def backup_create(
    file: Annotated[Path, typer.Argument(help=H("backup.file"))],
    passphrase_file: PassphraseFile = None,
    unencrypted: Annotated[bool, typer.Option("--unencrypted", help=H("backup.unencrypted"))] = False,
    force: Annotated[bool, typer.Option("--force", help=H("backup.force"))] = False,
) -> None:
    """Write the node's database, keys, models and settings files to one encrypted file."""
    passphrase = read_passphrase(passphrase_file, unencrypted=unencrypted)
    if passphrase is None and not unencrypted:
        fail(t("backup.error.no_passphrase_to_write", lang(), env=PASSPHRASE_ENV))
    store = open_store()  # one line, exit 2, when the node is not set up
    store.engine.dispose()
    outcome = create_backup(store.settings, file, passphrase, force=force)
    _summary("backup.written", outcome)
    if passphrase is None:
        out.print(t("backup.unencrypted_warning", lang()), markup=False)


@backup_app.command("verify", help=H("backup.verify"))
def backup_verify(
    file: Annotated[Path, typer.Argument(help=H("backup.file"))],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Decrypt a backup, check every member's digest and that its database dump can be read."""
    outcome = verify_backup(file, read_passphrase(passphrase_file))
    _summary("backup.verified", outcome, created=outcome.manifest.get("created_at", "?"))


def restore(
    file: Annotated[Path, typer.Argument(help=H("backup.file"))],
    into: Annotated[Optional[str], typer.Option("--into", help=H("restore.into"))] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help=H("restore.data_dir"))] = None,
    passphrase_file: PassphraseFile = None,
    force: Annotated[bool, typer.Option("--force", help=H("restore.force"))] = False,
) -> None:
    """Restore a backup into a new or empty database and its files into the data directory."""
    settings = settings_from(data_dir=data_dir, database_url=into)
    url = settings.resolved_database_url()
    outcome = restore_backup(
        file,
        read_passphrase(passphrase_file),
        database_url=url,
        data_dir=settings.data_dir,
        models_dir=settings.resolved_models_dir(),
        force=force,
    )
    _summary("restore.done", outcome, url=make_url(url).render_as_string(hide_password=True), data_dir=settings.data_dir)
    for setting, path in sorted(outcome.settings_files.items()):
        variable = "AVANCE_TARIFF_DIR" if setting == "tariff_dir" else "AVANCE_" + setting.upper()
        key = "restore.env_file" if setting == "env" else "restore.settings_file"
        out.print(t(key, lang(), variable=variable, path=path), markup=False)
