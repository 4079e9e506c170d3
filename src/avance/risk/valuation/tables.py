"""Tables: valuation references..

``valuation_references`` holds the last snapshot built from the lodged declarations (one row per
level x HS x origin x unit; rebuilt whole, in one transaction). ``valuation_overrides`` is the
analysts' value-control file: minimum and maximum unit values per HS prefix, origin and unit.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Float, Index, Integer, String, Table, Text

from avance.store.metadata import metadata
from avance.store.types import ExactDecimal, UTCDateTime

valuation_references = Table(
    "valuation_references",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("level", String(12), nullable=False, comment="hs6_origin, hs6 or hs4"),
    Column("hs", String(6), nullable=False, comment="HS6 or HS4 code"),
    Column("origin", String(2), nullable=True, comment="ISO 3166 alpha-2; null: all origins"),
    Column("unit", String(3), nullable=False, comment="UN/ECE Rec. 20 unit of the quantity (KGM: net mass)"),
    Column("n", Integer, nullable=False, comment="Goods items behind the statistics"),
    Column("median", ExactDecimal, nullable=False, comment="Unit values in national currency per unit"),
    Column("q10", ExactDecimal, nullable=False),
    Column("q25", ExactDecimal, nullable=False),
    Column("q75", ExactDecimal, nullable=False),
    Column("q90", ExactDecimal, nullable=False),
    Column("mad_log", Float, nullable=False, comment="Median absolute deviation of log(unit value), scaled by 1.4826"),
    Column("currency", String(3), nullable=False),
    Column("min_count", Integer, nullable=False, comment="Observations a level needs to be used (build setting)"),
    Column("k", Float, nullable=False, comment="Robust bounds: exp(median_log -/+ k * mad_log) (build setting)"),
    Column("floor_q10", Boolean, nullable=False, comment="Lower bound floored at q10, upper capped at q90 (build setting)"),
    Column("built_at", UTCDateTime, nullable=False),
    Column("window_from", Date, nullable=True, comment="First registration date used; null: from the start"),
    Column("window_to", Date, nullable=True, comment="Last registration date used; null: up to the build"),
    Index("ix_valuation_references_hs_unit", "hs", "unit"),
)

valuation_overrides = Table(
    "valuation_overrides",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hs_prefix", String(10), nullable=False, comment="4 to 10 digits: covers every longer code beneath it"),
    Column("origin", String(2), nullable=True, comment="null: every origin"),
    Column("unit", String(3), nullable=True, comment="null: whatever the unit of measure"),
    Column("minimum", ExactDecimal, nullable=True, comment="Lowest acceptable unit value, national currency"),
    Column("maximum", ExactDecimal, nullable=True, comment="Highest acceptable unit value, national currency"),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    Column("note", Text, nullable=True),
    Column("author", String(70), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_valuation_overrides_hs_prefix", "hs_prefix"),
)
