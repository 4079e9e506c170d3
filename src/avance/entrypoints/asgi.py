"""ASGI entry point for process managers: ``uvicorn avance.entrypoints.asgi:app`` (configured by AVANCE_*)."""

from avance.entrypoints.http import create_app

app = create_app()
