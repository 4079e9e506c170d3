"""Tables: export-import matching (mirror control) and transit movements.."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, UniqueConstraint

from avance.store.metadata import metadata
from avance.store.types import ExactDecimal, JSONDoc, UTCDateTime

export_notices = Table(
    "export_notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("direction", String(8), nullable=False, comment="received: this node imports and matches; sent: this node exported"),
    Column("partner", String(64), nullable=False, comment="Node id of the other administration"),
    Column("message_id", String(36), nullable=True, comment="Exchange message that carried (or will carry) the notice"),
    Column("export_reference", String(35), nullable=False, comment="Export declaration number at the exporting administration"),
    Column("exporting_country", String(2), nullable=False),
    Column("destination_country", String(2), nullable=False),
    Column("ucr", String(35), nullable=True),
    Column("transport_document_reference", String(35), nullable=True),
    Column("consignee_id", String(35), nullable=True),
    Column("export_date", Date, nullable=False),
    Column("document", JSONDoc, nullable=False, comment="The export-declaration-notice payload"),
    Column("at", UTCDateTime, nullable=False, comment="When the notice was received or sent"),
    Column("outcome", String(16), nullable=False, comment="pending, conforme, non_conforme or non_retrouvee"),
    Column("declaration_id", Integer, ForeignKey("declarations.id", ondelete="SET NULL"), nullable=True, comment="Matched import declaration (received notices)"),
    Column("import_reference", String(35), nullable=True, comment="Matched import declaration's reference at the importing administration"),
    Column("currency", String(3), nullable=True, comment="Importing country's currency of the amounts below"),
    Column("value_gap_percent", ExactDecimal, nullable=True),
    Column("revenue_gap", ExactDecimal, nullable=True),
    Column("result", JSONDoc, nullable=True, comment="The match-result payload (gaps, values, tolerances)"),
    Column("decided_at", UTCDateTime, nullable=True),
    UniqueConstraint("direction", "exporting_country", "export_reference", name="uq_export_notices_direction_reference"),
    Index("ix_export_notices_tdr", "transport_document_reference"),
    Index("ix_export_notices_ucr", "ucr"),
    Index("ix_export_notices_declaration", "declaration_id"),
    Index("ix_export_notices_outcome", "direction", "outcome", "export_date"),
)

export_notice_declarations = Table(
    "export_notice_declarations",
    metadata,
    Column("notice_id", Integer, ForeignKey("export_notices.id", ondelete="CASCADE"), nullable=False),
    Column("declaration_id", Integer, ForeignKey("declarations.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("notice_id", "declaration_id", name="pk_export_notice_declarations"),
    Index("ix_export_notice_declarations_declaration", "declaration_id"),
    comment="The import declarations of its bill of lading a received notice was compared with, together",
)

transit_movements = Table(
    "transit_movements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mrn", String(18), nullable=False, comment="Movement reference number, the same on every node"),
    Column("role", String(12), nullable=False, comment="This node's part in the movement: departure, en_route or destination"),
    Column("lrn", String(35), nullable=False, comment="The principal's local reference"),
    Column("departure_node", String(64), nullable=False, comment="Node id of the office of departure's administration"),
    Column("departure_office", String(35), nullable=False),
    Column("departure_country", String(2), nullable=False),
    Column("destination_office", String(35), nullable=False),
    Column("destination_country", String(2), nullable=False),
    Column("itinerary", JSONDoc, nullable=False, comment="Offices of passage in route order"),
    Column("principal_id", String(35), nullable=False),
    Column("principal_name", String(70), nullable=False),
    Column("guarantee_reference", String(35), nullable=False),
    Column("guarantee_amount", ExactDecimal, nullable=False),
    Column("guarantee_currency", String(3), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("time_limit", UTCDateTime, nullable=False, comment="Latest arrival at the office of destination"),
    Column("status", String(16), nullable=False, comment="registered, in_transit, arrived, discharged: derived from the events"),
    Column("status_at", UTCDateTime, nullable=False),
    Column("guarantee_released_at", UTCDateTime, nullable=True),
    Column("document", JSONDoc, nullable=False, comment="The transit-declaration payload"),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=True),
    UniqueConstraint("mrn", name="uq_transit_movements_mrn"),
    UniqueConstraint("departure_country", "principal_id", "lrn", name="uq_transit_movements_principal_lrn"),
    Index("ix_transit_movements_status", "status", "time_limit"),
    Index("ix_transit_movements_guarantee", "principal_id", "guarantee_reference"),
)

transit_events = Table(
    "transit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mrn", String(18), nullable=False, comment="Not a foreign key: a notification may arrive before the declaration it follows"),
    Column("kind", String(16), nullable=False, comment="registered, passage, arrival, discharge"),
    Column("office_code", String(35), nullable=False),
    Column("country", String(2), nullable=False),
    Column("at", UTCDateTime, nullable=False, comment="When it happened at the office"),
    Column("recorded_at", UTCDateTime, nullable=False, comment="When this node learnt it"),
    Column("source_node", String(64), nullable=True, comment="Node that recorded it (null: this node)"),
    Column("message_id", String(36), nullable=True),
    Column("actor", String(70), nullable=True),
    Column("data", JSONDoc, nullable=False),
    UniqueConstraint("mrn", "kind", "office_code", name="uq_transit_events_mrn_kind_office"),
    Index("ix_transit_events_mrn", "mrn", "id"),
)

transit_alerts = Table(
    "transit_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mrn", String(18), nullable=False),
    Column("kind", String(16), nullable=False, comment="overdue: the time limit passed without arrival"),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    UniqueConstraint("mrn", "kind", name="uq_transit_alerts_mrn_kind"),
)

transit_pending_notifications = Table(
    "transit_pending_notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mrn", String(18), nullable=False, comment="The movement this node does not know yet"),
    Column("kind", String(16), nullable=False, comment="passage, arrival or discharge"),
    Column("office_code", String(35), nullable=False),
    Column("country", String(2), nullable=False),
    Column("sender", String(64), nullable=False, comment="Node id of the partner that sent it"),
    Column("message_id", String(36), nullable=True),
    Column("payload", JSONDoc, nullable=False, comment="The notification as received"),
    Column("received_at", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False, comment="pending; applied or rejected once the movement is known"),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("code", String(80), nullable=True, comment="Why it was rejected (catalog key)"),
    Index("ix_transit_pending_notifications_mrn", "mrn", "state"),
    comment="Notifications for a movement not known yet: held, not facts, until its transit declaration arrives",
)
