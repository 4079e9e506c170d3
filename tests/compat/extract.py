"""Reading what partners and users depend on into plain, readable JSON-ready values.

These functions take the objects to read (an engine, a FastAPI application, a Click command, a
settings class, payload models) rather than importing Avance themselves: the same code read the
tree as it was before the re-layout, when the snapshots were first made, and reads the current
tree in the tests and in ``make_snapshots.py``. A change in what they return is what a snapshot
catches, so each keeps only what others rely on, in a stable order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python
from sqlalchemy import Engine, inspect, text

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# --- database ------------------------------------------------------------------------------------


def database_schema(engine: Engine) -> dict[str, Any]:
    """Every table of the database behind ``engine`` as its migrations left it.

    Columns keep their order; a column's ``type`` is SQLAlchemy's generic rendering of the
    reflected type (``DateTime(timezone=True)``, ``Numeric(precision=24, scale=6)``) and ``ddl``
    the engine's own name for it (``TIMESTAMP WITH TIME ZONE``, ``JSONB``). ``revision`` is the
    Alembic revision recorded in the database: an existing node's database carries it, and the
    code must still know it to upgrade that node.
    """
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        primary_key = set(inspector.get_pk_constraint(name).get("constrained_columns") or [])
        unique = sorted(
            ({"name": u["name"], "columns": list(u["column_names"])} for u in inspector.get_unique_constraints(name)),
            key=_by_name_and_columns,
        )
        tables[name] = {
            "columns": [
                {
                    "name": column["name"],
                    "type": repr(column["type"].as_generic()),
                    "ddl": str(column["type"].compile(dialect=engine.dialect)),
                    "nullable": bool(column["nullable"]),
                    "primary_key": column["name"] in primary_key,
                }
                for column in inspector.get_columns(name)
            ],
            "indexes": sorted(
                (
                    {"name": i["name"], "columns": list(i["column_names"]), "unique": bool(i["unique"])}
                    for i in inspector.get_indexes(name)
                    if "duplicates_constraint" not in i  # PostgreSQL's index behind a unique constraint
                ),
                key=_by_name_and_columns,
            ),
            "unique_constraints": unique,
            "foreign_keys": sorted(
                (
                    {
                        "name": fk["name"],
                        "columns": list(fk["constrained_columns"]),
                        "referred_table": fk["referred_table"],
                        "referred_columns": list(fk["referred_columns"]),
                        "options": dict(sorted((fk.get("options") or {}).items())),
                    }
                    for fk in inspector.get_foreign_keys(name)
                ),
                key=_by_name_and_columns,
            ),
        }
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return {"dialect": engine.dialect.name, "revision": sorted(revision), "tables": tables}


def _by_name_and_columns(entry: Mapping[str, Any]) -> tuple[str, list[str]]:
    return (entry["name"] or "", entry["columns"])


# --- exchange ------------------------------------------------------------------------------------


def exchange_schemas(schema_dir: Path, payloads: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """The published schema files (their content) and the JSON Schema of each payload model.

    Both modes of a model count: ``validation`` is what this node accepts from a partner,
    ``serialization`` what it sends.
    """
    return {
        "files": {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(schema_dir.glob("*.json"))},
        "payload_models": {
            message_type: {
                "model": model.__name__,
                "validation": model.model_json_schema(mode="validation"),
                "serialization": model.model_json_schema(mode="serialization"),
            }
            for message_type, model in sorted(payloads.items())
        },
    }


# --- HTTP ----------------------------------------------------------------------------------------


def http_routes(openapi: Mapping[str, Any]) -> list[str]:
    """Every ``METHOD /path`` of an OpenAPI document, sorted (no models, no documentation)."""
    return sorted(f"{method.upper()} {path}" for path, item in openapi["paths"].items() for method in item if method in HTTP_METHODS)


# --- command line --------------------------------------------------------------------------------


def command_tree(command: Any, name: str = "avance") -> dict[str, Any]:
    """Every command path under ``command`` (groups too) with its parameters, sorted by path.

    ``command`` is the Click command behind a Typer app (``typer.main.get_command(app)``). Typer
    ships its own copy of Click, so groups and arguments are told apart by Click's public
    attributes (``commands``, ``param_type_name``) rather than by class.

    A parameter is one line: an option with every spelling (``--serve / --no-serve``), or an
    argument by name (``FILE (argument)``), then ``[required]`` and ``[multiple]`` when they hold.
    ``--help`` is Click's own and left out, like help texts.
    """
    tree: dict[str, Any] = {}

    def walk(cmd: Any, path: str) -> None:
        subcommands = getattr(cmd, "commands", None)
        kind = "group" if subcommands is not None else "command"
        tree[path] = {"kind": f"hidden {kind}" if cmd.hidden else kind, "params": [_param(p) for p in cmd.params]}
        for sub_name, sub in (subcommands or {}).items():
            walk(sub, f"{path} {sub_name}")

    walk(command, name)
    return dict(sorted(tree.items()))


def _param(param: Any) -> str:
    if param.param_type_name == "argument":
        text = f"{param.name.upper()} (argument)"
        multiple = param.nargs != 1
    else:
        text = " / ".join(", ".join(spellings) for spellings in (param.opts, param.secondary_opts) if spellings)
        multiple = bool(param.multiple)
    return text + (" [required]" if param.required else "") + (" [multiple]" if multiple else "")


# --- environment ---------------------------------------------------------------------------------


def environment(settings: type[BaseModel]) -> dict[str, Any]:
    """Every environment variable a settings class reads, with its default (null: none), sorted."""
    prefix = settings.model_config.get("env_prefix", "")
    variables: dict[str, Any] = {}
    for name, field in settings.model_fields.items():
        if field.default_factory is not None:
            default: Any = field.default_factory()  # type: ignore[call-arg]
        elif field.default is PydanticUndefined:
            default = "(required)"
        else:
            default = field.default
        variables[f"{prefix}{name}".upper()] = to_jsonable_python(default)
    return dict(sorted(variables.items()))


def dumps(value: Any) -> str:
    """The text of a snapshot file: indented, non-ASCII kept (French labels stay readable)."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
