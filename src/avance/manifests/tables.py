"""Cargo reports (manifests) and their bills of lading; what declarations wrote off each bill."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
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

consignments = Table(
    "consignments",
    metadata,
    # One row per transport document ever declared or reported: the row lodgings lock
    # (SELECT ... FOR UPDATE), created for both of two concurrent lodgings by an upsert.
    Column("transport_document_reference", String(35), primary_key=True),
)

consignment_lines = Table(
    "consignment_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("transport_document_reference", String(35), ForeignKey("consignments.transport_document_reference"), nullable=False),
    Column("declaration_id", Integer, nullable=False, comment="The declaration (a plain number: manifests do not know declarations)"),
    Column("bill_id", Integer, ForeignKey("bills_of_lading.id", ondelete="SET NULL"), nullable=True, comment="The bill written off; null until a cargo report lists it"),
    Column("packages", Integer, nullable=False),
    Column("gross_mass", ExactDecimal, nullable=False),
    Column("hs_headings", JSONDoc, nullable=False, comment="HS headings (4 digits) of the declared goods"),
    Column("container_ids", JSONDoc, nullable=False),
    Column("split", Boolean, nullable=False, comment="Declared as one part of a split consignment"),
    Column("declared_at", UTCDateTime, nullable=False),
    Column("given_back_at", UTCDateTime, nullable=True, comment="The declaration was rejected: no longer written off"),
    Index("ix_consignment_lines_tdr", "transport_document_reference"),
    Index("ix_consignment_lines_declaration", "declaration_id"),
    Index("ix_consignment_lines_bill", "bill_id"),
)

consignment_discrepancies = Table(
    "consignment_discrepancies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("bill_id", Integer, ForeignKey("bills_of_lading.id", ondelete="CASCADE"), nullable=False),
    Column("transport_document_reference", String(35), nullable=False),
    Column("packages_on_bill", Integer, nullable=False),
    Column("packages_declared", Integer, nullable=False),
    Column("gross_mass_on_bill", ExactDecimal, nullable=False),
    Column("gross_mass_declared", ExactDecimal, nullable=False),
    Column("declaration_ids", JSONDoc, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_consignment_discrepancies_manifest", "manifest_id"),
)
