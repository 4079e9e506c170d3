"""Tables: customs-to-customs exchange (own keys, partners, outbox, inbox, alerts)..

The private keys are not here: they live in files under the node's data directory (0600).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint

from avance.store.metadata import metadata
from avance.store.types import JSONDoc, UTCDateTime

exchange_keys = Table(
    "exchange_keys",
    metadata,
    Column("kid", String(64), primary_key=True, comment="Key id: RFC 7638 JWK thumbprint of the public key"),
    Column("public_key", String(64), nullable=False, comment="Ed25519 public key, 32 raw bytes in base64url"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True, comment="When a newer key replaced it (null: the current key)"),
    Column("expires_at", UTCDateTime, nullable=True, comment="End of the grace period of a retired key"),
)

exchange_partners = Table(
    "exchange_partners",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("endpoint", String(500), nullable=False, comment="Base URL of the partner's API"),
    Column("added_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False, default=0, comment="Consecutive failed deliveries (backoff)"),
    Column("next_attempt_at", UTCDateTime, nullable=True, comment="No delivery before this (backoff)"),
    Column("confirmed_kid", String(64), nullable=True, comment="Newest own key the partner accepted"),
    Column("probe_after", UTCDateTime, nullable=True, comment="When to try the current own key again"),
    Column("lease_owner", String(100), nullable=True, comment="Sender process delivering to this partner"),
    Column("lease_until", UTCDateTime, nullable=True),
    UniqueConstraint("country", name="uq_exchange_partners_country"),
)

exchange_partner_keys = Table(
    "exchange_partner_keys",
    metadata,
    Column("node_id", String(64), ForeignKey("exchange_partners.node_id", ondelete="CASCADE"), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("public_key", String(64), nullable=False, comment="Ed25519 public key, 32 raw bytes in base64url"),
    Column("added_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("node_id", "kid", name="pk_exchange_partner_keys"),
)

exchange_outbox = Table(
    "exchange_outbox",
    metadata,
    Column("id", Integer, primary_key=True, comment="Enqueue order"),
    Column("message_id", String(36), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("type", String(40), nullable=False),
    Column("movement", String(70), nullable=True),
    Column("sequence", Integer, nullable=True, comment="Order within (recipient, movement), from 1"),
    Column("correlation", String(100), nullable=True),
    Column("payload", JSONDoc, nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("pending_since", UTCDateTime, nullable=False, comment="Enqueued or requeued at: the dead-letter age counts from here"),
    Column("state", String(10), nullable=False, comment="pending, delivered, rejected or dead"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("signed_at", UTCDateTime, nullable=True, comment="created_at of the last signed copy sent"),
    Column("signature", JSONDoc, nullable=True, comment="Signature of the last signed copy sent"),
    Column("outcome", String(10), nullable=True, comment="Partner's answer: accepted, buffered, duplicate, rejected, retry"),
    Column("outcome_code", String(80), nullable=True),
    Column("ack", JSONDoc, nullable=True, comment="The partner's signed acknowledgement (proof of receipt)"),
    Column("finished_at", UTCDateTime, nullable=True, comment="When it was delivered, rejected or dead-lettered"),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("message_id", name="uq_exchange_outbox_message_id"),
    UniqueConstraint("recipient", "movement", "sequence", name="uq_exchange_outbox_stream"),
    Index("ix_exchange_outbox_queue", "recipient", "state", "id"),
)

exchange_sequences = Table(
    "exchange_sequences",
    metadata,
    Column("recipient", String(64), nullable=False),
    Column("movement", String(70), nullable=False),
    Column("last", Integer, nullable=False),
    PrimaryKeyConstraint("recipient", "movement", name="pk_exchange_sequences"),
)

exchange_inbox = Table(
    "exchange_inbox",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("sender", String(64), nullable=False),
    Column("type", String(40), nullable=False),
    Column("movement", String(70), nullable=True),
    Column("sequence", Integer, nullable=True),
    Column("correlation", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, comment="Signing time of the first copy received"),
    Column("last_signed_at", UTCDateTime, nullable=False, comment="Signing time of the latest genuine copy"),
    Column("received_at", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False, comment="applied, buffered or rejected"),
    Column("applied_at", UTCDateTime, nullable=True),
    Column("code", String(80), nullable=True, comment="Why it was rejected (catalog key)"),
    Column("reason", JSONDoc, nullable=True, comment="Why, in words: {fr, en}"),
    Column("digest", String(64), nullable=False, comment="SHA-256 of the content without created_at and signature"),
    Column("duplicates", Integer, nullable=False, default=0, comment="Copies received again (retries)"),
    Column("envelope", JSONDoc, nullable=False, comment="The signed envelope as received"),
    UniqueConstraint("sender", "movement", "sequence", name="uq_exchange_inbox_stream"),
    Index("ix_exchange_inbox_state", "state", "sender"),
)

exchange_inbox_cursors = Table(
    "exchange_inbox_cursors",
    metadata,
    Column("sender", String(64), nullable=False),
    Column("movement", String(70), nullable=False),
    Column("next_sequence", Integer, nullable=False, comment="Sequence of the next message to apply in this stream"),
    Column("held", Integer, nullable=False, comment="Messages received ahead of their turn, not yet settled"),
    PrimaryKeyConstraint("sender", "movement", name="pk_exchange_inbox_cursors"),
)

exchange_rejections = Table(
    "exchange_rejections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("sender", String(64), nullable=True, comment="Claimed sender (not authenticated)"),
    Column("message_id", String(64), nullable=True),
    Column("type", String(40), nullable=True),
    Column("code", String(80), nullable=False),
    Column("detail", Text, nullable=True),
    Column("partner", String(64), nullable=False, server_default="", comment="The registered partner it claimed to come from; empty for anyone else"),
    Column("address", String(45), nullable=True, comment="Source address of the request"),
    Index("ix_exchange_rejections_code", "code", "at"),
    Index("ix_exchange_rejections_sample", "partner", "code", "id"),
)
"""A bounded sample of rejected messages: the last few per partner and reason; the counts are in
``exchange_rejection_counts``."""

exchange_rejection_counts = Table(
    "exchange_rejection_counts",
    metadata,
    Column("day", Date, nullable=False, comment="UTC day of the rejections"),
    Column("partner", String(64), nullable=False, comment="The registered partner they claimed to come from; empty for anyone else"),
    Column("code", String(80), nullable=False, comment="Why they were rejected (catalog key)"),
    Column("count", Integer, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("day", "partner", "code", name="pk_exchange_rejection_counts"),
    comment="Messages rejected, counted per day, partner and reason",
)

exchange_alerts = Table(
    "exchange_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False, comment="dead_letter or rejected"),
    Column("partner", String(64), nullable=True),
    Column("detail", JSONDoc, nullable=False),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Index("ix_exchange_alerts_open", "acknowledged_at", "raised_at"),
)

exchange_reference_data = Table(
    "exchange_reference_data",
    metadata,
    Column("partner", String(64), nullable=False, comment="Node id of the administration that published it"),
    Column("dataset", String(16), nullable=False, comment="offices or holidays"),
    Column("code", String(35), nullable=False, comment="Office code, or the date of a holiday"),
    Column("record", JSONDoc, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("revision", Integer, nullable=False, comment="How many updates were applied to this record"),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("message_id", String(36), nullable=False, comment="Last message that changed it"),
    PrimaryKeyConstraint("partner", "dataset", "code", name="pk_exchange_reference_data"),
)
