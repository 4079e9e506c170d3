"""An officer follows transit guarantees and mirror control from the command line, with amounts
written the way their language writes them; scripts get plain decimals."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from avance.auth.model import Principal, Role
from avance.kit.settings import get_settings
from avance.movements.transit import model as transit_model
from avance.movements.transit import service as transit_service
from avance.store.engine import write
from tests.support import exchange_ready, make_node, run_cli

OFFICER = Principal(user_id=None, name="officer", role=Role.OFFICER)


@pytest.fixture
def ghana(tmp_path: Path) -> Iterator[Path]:
    """Tema's node with one transit to Bamako under a guarantee of 150,000.00 cedis."""
    node = make_node(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}", tmp_path, country="GH")
    exchange_ready(node)
    request = {
        "lrn": "GH-TR-2026-0001",
        "departure_office": "GH-TEM-PORT",
        "itinerary": ["CI-NOE-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": "GH0012345T1", "name": "Sahel Transit Ltd", "country": "GH"},
        "guarantee": {"reference": "GRN-GH-2026-0042", "amount": {"amount": "150000.00", "currency": "GHS"}},
        "transport_means": {"mode_code": 3, "identification": "GT-4521-26", "nationality": "GH"},
        "seals": ["GHS778812"],
        "items": [
            {
                "sequence": 1,
                "hs_code": "100630",
                "description": "Milled rice in 25 kg bags",
                "origin_country": "TH",
                "gross_mass": "30150",
                "net_mass": "30000",
                "packages": {"quantity": 1200, "type_code": "BG"},
            }
        ],
        "time_limit": (datetime.now(timezone.utc) + timedelta(hours=72)).isoformat(),
    }
    with write(node.engine) as conn:
        transit_service.register(conn, node.context, transit_model.TransitRegistration.model_validate(request), OFFICER)
    node.engine.dispose()
    yield tmp_path


def avance(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str, lang: str = "en") -> tuple[int, str, str]:
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(folder))
    monkeypatch.setenv("AVANCE_LANG", lang)
    get_settings.cache_clear()
    try:
        return run_cli(args)
    finally:
        get_settings.cache_clear()


def test_guarantees_held_are_shown_in_the_officers_language(ghana, monkeypatch):
    code, out, err = avance(ghana, monkeypatch, "transit", "guarantees", lang="fr")
    assert code == 0, err
    assert "150\u202f000,00" in out and "GHS" in out
    code, out, err = avance(ghana, monkeypatch, "transit", "guarantees")
    assert code == 0, err
    assert "150,000.00" in out
    code, out, _ = avance(ghana, monkeypatch, "transit", "guarantees", "--json")
    assert json.loads(out.splitlines()[0])["held"] == "150000"


def test_a_transit_list_shows_the_guarantee_amount_the_same_way(ghana, monkeypatch):
    code, out, err = avance(ghana, monkeypatch, "transit", "list", lang="fr")
    assert code == 0, err
    assert "GRN-GH-2026-0042" in out and "150\u202f000,00" in out


def test_the_sweep_takes_a_day_and_refuses_anything_else_in_one_line(ghana, monkeypatch):
    code, out, err = avance(ghana, monkeypatch, "matching", "sweep", "--as-of", "2026-06-01")
    assert code == 0, err
    assert "2026-06-01" in out
    code, out, err = avance(ghana, monkeypatch, "matching", "sweep", "--as-of", "1 June")
    assert code == 2 and err.strip() == "error: --as-of: 1 June is not a valid date (YYYY-MM-DD expected, for example 2026-06-01)."
