"""The audit trail's signed heads. The records and the chain's head are in ``avance.store.audit``
(below ``auth``, so that every capability can record)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from avance.store.audit import audit_head, audit_records
from avance.store.metadata import metadata

__all__ = ["audit_head", "audit_records", "audit_signed_heads"]

audit_signed_heads = Table(
    "audit_signed_heads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False, comment="The chain's last sequence number when signed"),
    Column("hash", String(64), nullable=False, comment="That record's hash"),
    Column("signed_at", String(32), nullable=False, comment="When (UTC, ISO 8601, as signed)"),
    Column("node_id", String(64), nullable=False, comment="The node whose exchange key signed"),
    Column("kid", String(64), nullable=False, comment="The exchange key that signed"),
    Column("signature", String(100), nullable=False, comment="Ed25519 over the head's canonical JSON, base64url"),
    Index("ix_audit_signed_heads_seq", "seq"),
    comment="The audit chain's head, signed by the node's exchange key at intervals and on demand",
)
