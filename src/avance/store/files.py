"""The ledger of files taken from a watched drop folder (``avance watch``): which file, which
content, and what became of it, so that no file is imported twice across restarts or watchers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from avance.store.metadata import metadata
from avance.store.types import UTCDateTime

watched_files = Table(
    "watched_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, comment="SHA-256 of the file's content, hexadecimal"),
    Column("name", String(255), nullable=False, comment="The file's name in the drop folder"),
    Column("folder", String(1024), nullable=False, comment="The drop folder, as the watcher was given it"),
    Column("size", BigInteger, nullable=False),
    Column("state", String(10), nullable=False, comment="claimed while imported; done or rejected once settled"),
    Column("claimed_by", String(128), nullable=False, comment="The watcher that took it (host, process, start)"),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("accepted", Integer, nullable=True, comment="Documents stored (or already stored by an earlier run)"),
    Column("rejected", Integer, nullable=True, comment="Documents refused, with their reasons in the errors file"),
    Column("detail", Text, nullable=True, comment="Why the file was rejected, when it was as a whole"),
    UniqueConstraint("digest", "name", name="uq_watched_files_digest_name"),
    comment="Files taken from a watched drop folder: one row per content and name, claimed in a transaction",
)
