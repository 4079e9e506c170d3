"""Helpers shared by the tests: a valid Senegalese declaration and cargo report to start from."""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

TODAY = datetime.now(timezone.utc).date()


def declaration(lrn: str = "2026-DKR-000001", declarant: str = "SN0012345A7", **overrides: Any) -> dict[str, Any]:
    """A valid import declaration for Dakar port: one used car from France, invoiced in EUR, FOB."""
    eta = datetime.combine(TODAY + timedelta(days=10), datetime.min.time(), tzinfo=timezone.utc)
    doc: dict[str, Any] = {
        "type_code": "IM",
        "procedure_code": "4000",
        "lrn": lrn,
        "declarant": {"id": declarant, "name": "Transit Diallo SARL", "country": "SN"},
        "importer": {"id": "SN0098765B2", "name": "Auto Import Dakar SA", "country": "SN"},
        "exporter": {"name": "Voitures d'Occasion Lyon", "country": "FR"},
        "office_code": "SN-DKR-PORT",
        "transport_mode_code": 1,
        "transport_means": {"identification": "9321483", "name": "GRANDE DAKAR", "nationality": "IT"},
        "estimated_arrival": eta.isoformat(),
        "transport_document_reference": "GRIM0123456",
        "incoterm": "FOB",
        "invoice_currency": "EUR",
        "invoice_amount": "12000.00",
        "freight_amount": "1000.00",
        "insurance_amount": "100.00",
        "goods_item_quantity": 1,
        "total_package_quantity": 1,
        "containers": [{"id": "CSQU3054383", "seals": ["SN123456"]}],
        "goods_items": [
            {
                "sequence": 1,
                "hs_code": "8703231000",
                "description": "Voiture de tourisme d'occasion, 1800 cm3",
                "origin_country": "FR",
                "net_mass": "1250",
                "gross_mass": "1300",
                "invoice_amount": "12000.00",
                "packages": [{"quantity": 1, "type_code": "NE"}],
                "container_ids": ["CSQU3054383"],
            }
        ],
    }
    doc.update(overrides)
    return copy.deepcopy(doc)


def manifest(reference: str = "MAN-2026-0001", carrier: str = "SN0055555C1", **overrides: Any) -> dict[str, Any]:
    """A valid cargo report of a vessel from Antwerp to Dakar with two bills of lading."""
    eta = datetime.combine(TODAY + timedelta(days=7), datetime.min.time(), tzinfo=timezone.utc)
    doc: dict[str, Any] = {
        "reference": reference,
        "carrier": {"id": carrier, "name": "Grimaldi Sénégal", "country": "SN"},
        "office_code": "SN-DKR-PORT",
        "transport_mode_code": 1,
        "voyage_number": "GD0426",
        "conveyance": {"identification": "9321483", "name": "GRANDE DAKAR", "nationality": "IT"},
        "port_of_loading": "BEANR",
        "port_of_discharge": "SNDKR",
        "estimated_arrival": eta.isoformat(),
        "bills_of_lading": [
            {
                "transport_document_reference": "GRIM0123456",
                "consignee": {"id": "SN0098765B2", "name": "Auto Import Dakar SA"},
                "description": "1 used car",
                "package_quantity": 1,
                "package_type": "NE",
                "gross_mass": "1300",
                "containers": [{"id": "CSQU3054383", "seals": ["SN123456"]}],
            },
            {
                "transport_document_reference": "GRIM0123457",
                "consignee": {"name": "Pharmacie Nationale d'Approvisionnement"},
                "description": "Medicaments",
                "package_quantity": 40,
                "package_type": "CT",
                "gross_mass": "800",
            },
        ],
    }
    doc.update(overrides)
    return copy.deepcopy(doc)


def run_cli(args: Sequence[str]) -> tuple[int, str, str]:
    """Run ``avance ARGS`` in this process, as an operator would: exit code, stdout, stderr."""
    from avance.entrypoints.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["avance", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    finally:
        sys.argv = argv
    return 0, out.getvalue(), err.getvalue()


def json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) into a JSON document."""
    paths = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths.extend(json_paths(value, prefix + (key,)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            paths.extend(json_paths(value, prefix + (i,)))
    return paths


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], values: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A valid document with one to three fields replaced by one of ``values``, or removed."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(values)
    return doc
