"""The audit trail's tests: one node per module and database (SQLite, and PostgreSQL when one
answers) with an exchange identity whose key signs the chain's head; each test starts from an
empty trail."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Iterator

import pytest
from sqlalchemy import delete, update

from avance.audit import service
from avance.audit.tables import audit_head, audit_records, audit_signed_heads
from avance.bootstrap import audit_keyring
from avance.exchange import keys
from avance.store.audit import GENESIS
from avance.store.engine import write
from tests.conftest import scratch_database
from tests.support import make_node


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def trail_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("audit")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{(folder / 'avance.db').as_posix()}"
        else:
            url = stack.enter_context(scratch_database(request.getfixturevalue("pg_server")))
        node = make_node(url, folder)
        with write(node.engine) as conn:
            keys.init(conn, node.settings.data_dir, "SN-AVANCE")
        yield node
        node.engine.dispose()


@pytest.fixture
def node(trail_node: Any) -> Any:
    """The module's node with an empty audit trail."""
    with write(trail_node.engine) as conn:
        conn.execute(delete(audit_signed_heads))
        conn.execute(delete(audit_records))
        conn.execute(update(audit_head).values(seq=0, hash=GENESIS))
    return trail_node


@pytest.fixture
def keyring(node: Any) -> service.Keyring:
    return audit_keyring(node.settings)
