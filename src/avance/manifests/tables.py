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
    true,
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
    Column("version", Integer, nullable=False, server_default="1", comment="The latest version: 1, then one more for each amendment"),
    Column("amended_at", UTCDateTime, nullable=True, comment="When the latest amendment was lodged"),
    Column("place_of_loading", String(5), nullable=True, comment="UN/LOCODE, for a report filed before loading"),
    Column("loading_date", UTCDateTime, nullable=True),
    Column("loaded", Boolean, nullable=False, server_default=true(), comment="False while a report filed before loading says the goods are not on board"),
    UniqueConstraint("reference", name="uq_manifests_reference"),
)

manifest_versions = Table(
    "manifest_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSONDoc, nullable=False, comment="The cargo report as lodged in this version"),
    Column("changes", JSONDoc, nullable=True, comment="What this version changed from the one before (none for the first)"),
    Column("lodged_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("lodged_at", UTCDateTime, nullable=False),
    UniqueConstraint("manifest_id", "version", name="uq_manifest_versions_manifest_version"),
    comment="Every version of a cargo report: the first lodging and each amendment, with what it changed",
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
    Column("importer_id", String(35), nullable=True, comment="The declaration's importer, compared with the bill's consignee"),
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

cargo_referrals = Table(
    "cargo_referrals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("transport_document_reference", String(35), nullable=False, comment="The bill referred (kept if an amendment removes it)"),
    Column("carrier_id", String(35), nullable=False, comment="The carrier of the cargo report: who sees and answers the referral"),
    Column("kind", String(24), nullable=False, comment="request_for_information, request_for_screening or do_not_load"),
    Column("state", String(10), nullable=False, comment="open, answered or lifted (expired is an open one past its deadline)"),
    Column("reason", Text, nullable=False),
    Column("deadline", UTCDateTime, nullable=False),
    Column("referred_by", String(70), nullable=False),
    Column("referred_at", UTCDateTime, nullable=False),
    Column("answer", JSONDoc, nullable=True, comment="The carrier's answer: information, screening result, note"),
    Column("answered_by", String(70), nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("lifted_by", String(70), nullable=True),
    Column("lifted_at", UTCDateTime, nullable=True),
    Column("lift_note", Text, nullable=True),
    Index("ix_cargo_referrals_tdr", "transport_document_reference", "kind", "state"),
    Index("ix_cargo_referrals_carrier", "carrier_id"),
    Index("ix_cargo_referrals_manifest", "manifest_id"),
    comment="Pre-loading referrals of bills of lading: requests for information or screening, do-not-load",
)

write_off_alerts = Table(
    "write_off_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("transport_document_reference", String(35), nullable=False),
    Column("kind", String(24), nullable=False, comment="not_declared, over_declared, under_declared or consignee_mismatch"),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False, comment="The figures when it was raised"),
    UniqueConstraint("manifest_id", "transport_document_reference", "kind", name="uq_write_off_alerts_bill_kind"),
    comment="Write-off findings raised as alerts, once per bill and kind",
)
