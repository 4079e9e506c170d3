"""Avance: advance customs control for West and Central Africa."""

__version__ = "0.1.0"
