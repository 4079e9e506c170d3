"""The node's secret for the random selection draw (created for nodes already initialised)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

The random selection draws with an HMAC keyed by a secret of the node (``avance.risk.policy.draw``).
A node initialised before this revision has none: this data step gives it a fresh random one, in
the layout ``avance.risk.policy.service`` reads (frozen here, as a migration must be). A node that
already holds one keeps it. No table changes.
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types  # noqa: F401  (kept like every revision's header)

import base64
import json
import secrets
from datetime import datetime, timezone

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SECRETS_KEY = "selection.draw_secrets"

node_settings = sa.table("node_settings", sa.column("key", sa.String(64)), sa.column("value", sa.Text))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.select(node_settings.c.key).where(node_settings.c.key == SECRETS_KEY)).first() is not None:
        return
    entry = {
        "id": "1",
        "key": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    conn.execute(sa.insert(node_settings).values(key=SECRETS_KEY, value=json.dumps({"current": "1", "secrets": [entry]})))


def downgrade() -> None:
    # The secrets stay: removing them would make every recorded draw uncheckable.
    pass
