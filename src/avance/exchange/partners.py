"""The partner registry: the administrations this node exchanges with, their endpoints and keys.

One partner per country (one node per administration). A partner holds one or two public keys:
two during a key changeover, and a message signed with either verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address

import httpx
from sqlalchemy import Connection, delete, func, insert, select, update

from avance.kit.errors import Conflict, Issue, NotFound, ValidationFailed
from avance.exchange.envelope import b64u, now
from avance.exchange.keys import check_kid, check_node_id, node_id_or_none, parse_public_key, thumbprint
from avance.store.node_settings import read_country
from avance.reference import is_country
from avance.exchange.tables import exchange_alerts, exchange_outbox, exchange_partner_keys, exchange_partners

MAX_KEYS = 2


@dataclass(frozen=True, slots=True)
class PartnerKey:
    kid: str
    public_key: str  # base64url of the 32 raw bytes
    added_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    node_id: str
    country: str
    endpoint: str
    added_at: datetime
    keys: tuple[PartnerKey, ...]

    def key(self, kid: str) -> PartnerKey | None:
        return next((k for k in self.keys if k.kid == kid), None)


def check_endpoint(endpoint: str, pointer: str = "/endpoint") -> str:
    """A base URL over https (http only on this machine: 127.0.0.0/8, ::1, localhost), without
    query or fragment; kept without its trailing slash. Messages are signed either way, but over
    plain http anyone on the path reads the declarations they carry."""
    try:
        url = httpx.URL(endpoint)
        ok = url.scheme in ("http", "https") and bool(url.host) and not url.query and not url.fragment and len(endpoint) <= 500
    except (httpx.InvalidURL, TypeError, ValueError):
        ok = False
    if not ok:
        raise ValidationFailed([Issue(pointer, "partners.bad_endpoint", {"endpoint": endpoint})])
    if url.scheme == "http" and not is_loopback(url.host):
        raise ValidationFailed([Issue(pointer, "partners.endpoint_not_https", {"endpoint": endpoint})])
    return str(endpoint).rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: a loopback address (127.0.0.0/8, ::1) or localhost."""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _country(value: str) -> str:
    code = (value or "").upper()
    if not is_country(code):
        raise ValidationFailed([Issue("/country", "partners.bad_country", {"country": value})])
    return code


def add(conn: Connection, *, node_id: str, country: str, endpoint: str, public_key: str, kid: str | None = None) -> Partner:
    """Register a partner administration with its first public key."""
    check_node_id(node_id)
    country = _country(country)
    endpoint = check_endpoint(endpoint)
    raw = parse_public_key(public_key)
    kid = check_kid(kid) if kid else thumbprint(raw)
    issues = []
    if node_id == node_id_or_none(conn):
        issues.append(Issue("/node_id", "partners.is_self", {"node_id": node_id}))
    if country == read_country(conn):
        issues.append(Issue("/country", "partners.own_country", {"country": country}))
    if issues:
        raise ValidationFailed(issues)
    if find(conn, node_id) is not None:
        raise Conflict("partners.exists", node_id=node_id)
    taken = conn.execute(select(exchange_partners.c.node_id).where(exchange_partners.c.country == country)).scalar()
    if taken is not None:
        raise Conflict("partners.country_taken", country=country, node_id=taken)
    at = now()
    conn.execute(insert(exchange_partners).values(node_id=node_id, country=country, endpoint=endpoint, added_at=at, failures=0))
    conn.execute(insert(exchange_partner_keys).values(node_id=node_id, kid=kid, public_key=b64u(raw), added_at=at))
    return get(conn, node_id)


def update_endpoint(conn: Connection, node_id: str, endpoint: str) -> Partner:
    """A partner moved its system: deliveries go to the new address at once (and are retried now)."""
    get(conn, node_id)
    endpoint = check_endpoint(endpoint)
    conn.execute(update(exchange_partners).where(exchange_partners.c.node_id == node_id).values(endpoint=endpoint, next_attempt_at=None, failures=0))
    return get(conn, node_id)


def remove(conn: Connection, node_id: str, *, force: bool = False) -> int:
    """Withdraw a partner. Refused while messages wait for it, unless ``force``: they go to dead letter
    (with an alert). Returns how many messages were dead-lettered."""
    get(conn, node_id)
    pending = conn.execute(
        select(func.count()).select_from(exchange_outbox).where(exchange_outbox.c.recipient == node_id, exchange_outbox.c.state == "pending")
    ).scalar_one()
    if pending and not force:
        raise Conflict("partners.pending", node_id=node_id, count=pending)
    at = now()
    if pending:
        conn.execute(
            update(exchange_outbox)
            .where(exchange_outbox.c.recipient == node_id, exchange_outbox.c.state == "pending")
            .values(state="dead", finished_at=at, last_error="partner removed")
        )
        conn.execute(insert(exchange_alerts).values(raised_at=at, kind="dead_letter", partner=node_id, detail={"count": pending, "reason": "partner removed"}))
    conn.execute(delete(exchange_partner_keys).where(exchange_partner_keys.c.node_id == node_id))
    conn.execute(delete(exchange_partners).where(exchange_partners.c.node_id == node_id))
    return int(pending)


def add_key(conn: Connection, node_id: str, public_key: str, kid: str | None = None) -> Partner:
    """A partner's new key, during its changeover: both keys verify until the old one is removed."""
    partner = get(conn, node_id)
    raw = parse_public_key(public_key)
    kid = check_kid(kid) if kid else thumbprint(raw)
    if partner.key(kid) is not None or any(k.public_key == b64u(raw) for k in partner.keys):
        raise Conflict("partners.key_exists", node_id=node_id, kid=kid)
    if len(partner.keys) >= MAX_KEYS:
        raise Conflict("partners.too_many_keys", node_id=node_id, kids=[k.kid for k in partner.keys])
    conn.execute(insert(exchange_partner_keys).values(node_id=node_id, kid=kid, public_key=b64u(raw), added_at=now()))
    return get(conn, node_id)


def remove_key(conn: Connection, node_id: str, kid: str) -> Partner:
    """End a changeover: the old key no longer verifies. The last key cannot be removed."""
    partner = get(conn, node_id)
    if partner.key(kid) is None:
        raise NotFound("partners.unknown_key", node_id=node_id, kid=kid)
    if len(partner.keys) == 1:
        raise Conflict("partners.last_key", node_id=node_id)
    conn.execute(delete(exchange_partner_keys).where(exchange_partner_keys.c.node_id == node_id, exchange_partner_keys.c.kid == kid))
    return get(conn, node_id)


def _partners(conn: Connection, where=None) -> list[Partner]:  # type: ignore[no-untyped-def]
    query = select(exchange_partners.c.node_id, exchange_partners.c.country, exchange_partners.c.endpoint, exchange_partners.c.added_at).order_by(exchange_partners.c.node_id)
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    if not rows:
        return []
    keys: dict[str, list[PartnerKey]] = {}
    key_query = select(exchange_partner_keys).order_by(exchange_partner_keys.c.added_at)
    if where is not None:
        key_query = key_query.where(exchange_partner_keys.c.node_id.in_([r[0] for r in rows]))
    for k in conn.execute(key_query).mappings():
        keys.setdefault(k["node_id"], []).append(PartnerKey(k["kid"], k["public_key"], k["added_at"]))
    return [Partner(r[0], r[1], r[2], r[3], tuple(keys.get(r[0], ()))) for r in rows]


def list_partners(conn: Connection) -> list[Partner]:
    """Every partner, by node id."""
    return _partners(conn)


def find(conn: Connection, node_id: str) -> Partner | None:
    found = _partners(conn, exchange_partners.c.node_id == node_id)
    return found[0] if found else None


def get(conn: Connection, node_id: str) -> Partner:
    """Partner ``node_id``; NotFound when it is not registered."""
    partner = find(conn, node_id)
    if partner is None:
        raise NotFound("partners.unknown", node_id=node_id)
    return partner


def by_country(conn: Connection, country: str) -> Partner | None:
    """The partner node of administration ``country`` (ISO alpha-2), or None."""
    found = _partners(conn, exchange_partners.c.country == (country or "").upper())
    return found[0] if found else None


def node_for_country(conn: Connection, country: str) -> str:
    """Node id of the partner administration of ``country``; NotFound when there is none."""
    partner = by_country(conn, country)
    if partner is None:
        raise NotFound("partners.no_partner_for_country", country=(country or "").upper())
    return partner.node_id
