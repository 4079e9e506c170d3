"""Table: the selection policy's running quota counters, shared by every process of a node."""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, String, Table

from avance.store.metadata import metadata

lane_quotas = Table(
    "lane_quotas",
    metadata,
    Column("office", String(64), primary_key=True, comment="Office of lodging"),
    Column("period", String(8), primary_key=True, comment="The policy's quota period: day, week or month"),
    Column("period_start", Date, primary_key=True, comment="First day of the period"),
    Column("lodged", Integer, nullable=False, comment="Declarations lodged at the office in the period"),
    Column("red", Integer, nullable=False),
    Column("yellow", Integer, nullable=False),
    Column("blue", Integer, nullable=False),
    comment="Declarations per lane and office in each quota period, as assessed; updated in the lodging transaction",
)
