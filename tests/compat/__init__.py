"""Compatibility: what partners and users depend on stays as the snapshots recorded it."""
