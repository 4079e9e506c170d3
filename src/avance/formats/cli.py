"""``avance convert FILE [--from FORMAT] [--to FORMAT]``: a message read in one format and written
in another, on standard output, with no node needed (conversion is pure).

Bad input is one line on standard error and exit code 2, through ``avance.kit.cli`` like every
command: which message, which segment or element, what is wrong.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from avance.formats import registry
from avance.formats.mapping import load_mapping
from avance.kit.cli import H, fail, lang
from avance.kit.i18n import t


class Target(str, Enum):
    JSON = registry.JSON
    WCO_XML = registry.WCO_XML
    EDIFACT = registry.EDIFACT
    ASYCUDA = registry.ASYCUDA


def read_input(file: str) -> bytes:
    """The bytes of ``file``, or of standard input for ``-``; a missing file is one line and exit 2."""
    if file == "-":
        stream = getattr(sys.stdin, "buffer", None)
        return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    path = Path(file)
    if not path.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    return path.read_bytes()


def mapping_from(path: Path | None) -> Any:
    """The path mapping of an ASYCUDA World export (``--mapping``), or None for the default one."""
    if path is None:
        return None
    if not path.is_file():
        fail(t("cli.no_such_file", lang(), path=path))
    return load_mapping(path)


def emit(data: bytes, output: Path | None = None) -> None:
    """Write a converted message: to ``output``, else to standard output as bytes (or as text where
    standard output is a text stream only, as in tests)."""
    if output is not None:
        output.write_bytes(data)
        return
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        sys.stdout.flush()
        stream.write(data)
        stream.flush()
        return
    try:
        sys.stdout.write(data.decode("utf-8"))
    except UnicodeDecodeError:  # an EDIFACT interchange in ISO 8859-1 (UNOC)
        sys.stdout.write(data.decode("latin-1"))


def convert(
    file: Annotated[str, typer.Argument(help=H("convert.file"))],
    source: Annotated[Optional[str], typer.Option("--from", help=H("convert.from"))] = None,
    target: Annotated[Target, typer.Option("--to", help=H("convert.to"))] = Target.JSON,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help=H("convert.mapping"))] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help=H("convert.output"))] = None,
) -> None:
    """Convert a message between Avance JSON, WCO DM XML, UN/EDIFACT and ASYCUDA World SAD XML."""
    data = read_input(file)
    paths = mapping_from(mapping)
    documents = registry.read(data, source, mapping=paths)
    emit(registry.write(documents, target.value, mapping=paths), output)
