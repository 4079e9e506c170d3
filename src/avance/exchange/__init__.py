"""Customs-to-customs exchange between national Avance nodes."""
