"""ASGI entry point for process managers: ``uvicorn avance.asgi:app`` (configured by AVANCE_*)."""

from avance.app import create_app

app = create_app()
