"""Fixtures of the cargo-report tests: carrier users on a served node, and the command line
pointed at a node in the test's directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from avance.auth.model import Role
from avance.auth.service import create_user
from avance.bootstrap import Node
from avance.kit.settings import get_settings
from tests.support import LiveApi, make_node

CARRIER = "SN0055555C1"
"""The carrier of ``tests.support.manifest()``."""

OTHER_CARRIER = "SN0066666E4"


@pytest.fixture
def carriers(api: LiveApi) -> LiveApi:
    """``api`` with two users of the carrier role: ``line`` (the carrier of ``manifest()``) and ``other_line``."""
    with api.node.engine.begin() as conn:
        for name, party in (("line", CARRIER), ("other_line", OTHER_CARRIER)):
            _, api.tokens[name] = create_user(conn, name=name, role=Role.CARRIER, party_id=party)
    return api


@pytest.fixture
def cli_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    """A node in ``tmp_path`` that the command line (in this process) opens, in English."""
    node = make_node(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}", tmp_path)
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    yield node
    node.engine.dispose()
    get_settings.cache_clear()
