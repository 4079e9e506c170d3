"""The database schema of a node and its Alembic migrations, run from code so that ``avance init``
needs no alembic.ini.

Each capability declares its tables in its own ``tables`` module; this package, above them all,
gathers them into the one ``MetaData`` the migrations are checked against.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData

from avance.audit import tables as _audit  # noqa: F401
from avance.auth import tables as _auth  # noqa: F401  (each import declares its tables)
from avance.declarations import tables as _declarations  # noqa: F401
from avance.exchange import tables as _exchange  # noqa: F401
from avance.manifests import tables as _manifests  # noqa: F401
from avance.movements import tables as _movements  # noqa: F401
from avance.reference import tables as _reference  # noqa: F401
from avance.risk.policy import tables as _policy  # noqa: F401
from avance.risk.profiles import tables as _profiles  # noqa: F401
from avance.risk.valuation import tables as _valuation  # noqa: F401
from avance.store import files as _files  # noqa: F401
from avance.store import node_settings as _settings  # noqa: F401
from avance.store.metadata import metadata


def schema() -> MetaData:
    """Every table of a node, as the code declares them."""
    return metadata


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files(__package__)))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default: the latest)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
