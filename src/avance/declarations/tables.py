"""Goods declarations, their items and their timestamped events."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
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

declarations = Table(
    "declarations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lrn", String(35), nullable=False),
    Column("declarant_id", String(35), nullable=False),
    Column("importer_id", String(35), nullable=False),
    Column("importer_name", String(70), nullable=False),
    Column("office_code", String(35), nullable=False),
    Column("procedure_code", String(4), nullable=False),
    Column("transport_mode_code", SmallInteger, nullable=False),
    Column("estimated_arrival", UTCDateTime, nullable=False),
    Column("registration_date", Date, nullable=False, comment="Date of registration: rates and tariffs in force on it apply"),
    Column("lodged_at", UTCDateTime, nullable=False, comment="System time of lodging"),
    Column("manifest_reference", String(35), nullable=True),
    Column("transport_document_reference", String(35), nullable=True),
    Column("invoice_currency", String(3), nullable=False),
    Column("invoice_amount", ExactDecimal, nullable=False),
    Column("currency", String(3), nullable=False, comment="National currency of the amounts below"),
    Column("customs_value", ExactDecimal, nullable=False),
    Column("duty_total", ExactDecimal, nullable=False),
    Column("duties", JSONDoc, nullable=False, comment="Duty breakdown (lines per code)"),
    Column("lane", String(8), nullable=False),
    Column("score", ExactDecimal, nullable=False),
    Column("reasons", JSONDoc, nullable=False),
    Column("assessor", String(64), nullable=False),
    Column("status", String(16), nullable=False, comment="Derived from the events; kept for filtering"),
    Column("document", JSONDoc, nullable=False, comment="The declaration exactly as lodged"),
    Column("lodged_by", Integer, ForeignKey("users.id"), nullable=True),
    UniqueConstraint("declarant_id", "lrn", name="uq_declarations_declarant_lrn"),
    Index("ix_declarations_status", "status"),
    Index("ix_declarations_lane", "lane"),
    Index("ix_declarations_office_date", "office_code", "registration_date"),
    Index("ix_declarations_importer", "importer_id"),
    Index("ix_declarations_manifest", "manifest_reference"),
)

goods_items = Table(
    "goods_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("declaration_id", Integer, ForeignKey("declarations.id", ondelete="CASCADE"), nullable=False),
    Column("sequence", SmallInteger, nullable=False),
    Column("hs_code", String(10), nullable=False),
    Column("description", Text, nullable=False),
    Column("origin_country", String(2), nullable=False),
    Column("procedure_code", String(4), nullable=False),
    Column("duty_regime", String(10), nullable=False),
    Column("net_mass", ExactDecimal, nullable=False),
    Column("gross_mass", ExactDecimal, nullable=False),
    Column("supplementary_quantity", ExactDecimal, nullable=True),
    Column("invoice_amount", ExactDecimal, nullable=False),
    Column("customs_value", ExactDecimal, nullable=False),
    Column("fob_value", ExactDecimal, nullable=False),
    Column("duty_total", ExactDecimal, nullable=False),
    Column("duties", JSONDoc, nullable=False),
    UniqueConstraint("declaration_id", "sequence", name="uq_goods_items_declaration_sequence"),
    Index("ix_goods_items_hs_origin", "hs_code", "origin_country"),
)

declaration_events = Table(
    "declaration_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("declaration_id", Integer, ForeignKey("declarations.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(70), nullable=True),
    Column("data", JSONDoc, nullable=False),
    Index("ix_declaration_events_declaration", "declaration_id", "id"),
    Index("ix_declaration_events_kind_at", "kind", "at"),
)
