"""Tables: selectivity profiles, every saved version of them, and their hits.."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from avance.store.metadata import metadata
from avance.store.types import ExactDecimal, JSONDoc, UTCDateTime

risk_profiles = Table(
    "risk_profiles",
    metadata,
    Column("id", String(64), primary_key=True, comment="Stable code of the profile, e.g. P-TEXT-CN-LOW"),
    Column("version", Integer, nullable=False, comment="Current version; incremented on every change"),
    Column("active", Boolean, nullable=False),
    Column("lane", String(8), nullable=True, comment="Lane the profile forces, if any"),
    Column("score", ExactDecimal, nullable=False),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    Column("document", JSONDoc, nullable=False, comment="The current version as saved (the rules.yaml form)"),
    Column("author", String(70), nullable=False, comment="Who saved the current version"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

risk_profile_versions = Table(
    "risk_profile_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("profile_id", String(64), ForeignKey("risk_profiles.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("change", String(16), nullable=False, comment="created, updated, deactivated or reactivated"),
    Column("document", JSONDoc, nullable=False),
    Column("author", String(70), nullable=False),
    Column("saved_at", UTCDateTime, nullable=False),
    UniqueConstraint("profile_id", "version", name="uq_risk_profile_versions_profile_version"),
)

risk_profile_hits = Table(
    "risk_profile_hits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("declaration_id", Integer, ForeignKey("declarations.id", ondelete="CASCADE"), nullable=False),
    # No foreign key: a node may assess with a rule file whose profiles are not in the table.
    Column("profile_id", String(64), nullable=False),
    Column("profile_version", Integer, nullable=False),
    Column("lane", String(8), nullable=False, comment="Lane the profile asked for (green when it only adds to the score)"),
    Column("at", UTCDateTime, nullable=False, comment="When the declaration was assessed"),
    UniqueConstraint("declaration_id", "profile_id", name="uq_risk_profile_hits_declaration_profile"),
    Index("ix_risk_profile_hits_profile_at", "profile_id", "at"),
)
