"""Cargo reports (manifests) and their bills of lading."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from avance.store.types import ExactDecimal, JSONDoc, UTCDateTime
from avance.store.metadata import metadata

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(35), nullable=False),
    Column("carrier_id", String(35), nullable=False),
    Column("office_code", String(35), nullable=False),
    Column("transport_mode_code", SmallInteger, nullable=False),
    Column("voyage_number", String(35), nullable=False),
    Column("conveyance_id", String(35), nullable=True),
    Column("port_of_loading", String(5), nullable=False),
    Column("port_of_discharge", String(5), nullable=False),
    Column("estimated_arrival", UTCDateTime, nullable=False),
    Column("document", JSONDoc, nullable=False, comment="The cargo report as lodged"),
    Column("lodged_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("lodged_at", UTCDateTime, nullable=False),
    UniqueConstraint("reference", name="uq_manifests_reference"),
)

bills_of_lading = Table(
    "bills_of_lading",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("transport_document_reference", String(35), nullable=False),
    Column("consignee_id", String(35), nullable=True),
    Column("consignee_name", String(70), nullable=False),
    Column("description", Text, nullable=False),
    Column("package_quantity", Integer, nullable=False),
    Column("gross_mass", ExactDecimal, nullable=False),
    Column("container_ids", JSONDoc, nullable=False),
    UniqueConstraint("manifest_id", "transport_document_reference", name="uq_bills_of_lading_manifest_tdr"),
    Index("ix_bills_of_lading_tdr", "transport_document_reference"),
)
