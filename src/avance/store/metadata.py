"""The one SQLAlchemy ``MetaData`` every capability declares its tables in.

Each capability keeps its tables in its own ``tables`` module; ``avance.migrations`` imports them
all, and a test checks that the migrations create exactly these tables."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
