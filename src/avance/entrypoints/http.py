"""The FastAPI application of a node: the capabilities' routers, the error handlers, the body
limit, the health check, and an OpenAPI document that says what the node really answers (every
error as problem+json, ``kit.http.document_problems``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from sqlalchemy import text

from avance import __version__
from avance.audit.api import router as audit_router
from avance.bootstrap import Node, open_node
from avance.declarations.api import router as declarations_router
from avance.declarations.debts_api import router as debts_router
from avance.exchange.api import router as exchange_router
from avance.exchange.worker import start
from avance.kit.http import MAX_BODY, BodyLimit, NodeDep, RateLimit, SecurityHeaders, document_problems, document_rate_limits, install_error_handlers
from avance.kit.settings import Settings, get_settings
from avance.manifests.api import router as manifests_router
from avance.movements.api import router as movements_router
from avance.risk.engine.api import router as engine_router
from avance.risk.profiles.api import router as profiles_router
from avance.reports.api import router as reports_router
from avance.risk.valuation.api import router as valuation_router
from avance.web.app import install as install_pages

ROUTERS = (declarations_router, debts_router, manifests_router, engine_router, profiles_router, valuation_router, exchange_router, movements_router, reports_router, audit_router)

DESCRIPTION = """
Avance receives cargo reports and goods declarations **before the goods arrive**, validates
them, computes duties and taxes, and assigns a control lane (green, yellow, red, blue).

* Authenticate with `Authorization: Bearer <token>` (tokens come from `avance users create`).
* Send `Accept-Language: fr` or `en`: messages, lane names and reasons follow it.
* Errors are RFC 9457 `application/problem+json`; validation errors list every problem with its
  JSON pointer. A rejected document is never stored.
* Files analysts keep (profiles as YAML, the value-control file as CSV) are other representations
  of their resource: ask with `Accept` or, in a link, `?format=yaml` or `?format=csv`.
"""


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when the database does not answer.")
    version: str
    country: str
    currency: str
    database: str = Field(description="ok or unreachable.")
    engine: str = Field(description="The database engine: sqlite or postgresql.")


def create_app(node: Node | None = None, settings: Settings | None = None) -> FastAPIOffline:
    """Build the API of ``node`` (default: the node the environment configures)."""
    node = node or open_node(settings or get_settings())
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        stop = start(node)  # the exchange sender runs beside the API
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPIOffline(
        lifespan=lifespan,
        title="Avance",
        version=__version__,
        description=DESCRIPTION,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.node = node
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    limits = node.settings
    app.add_middleware(  # before the body is read or the token checked (middleware added later runs first)
        RateLimit,
        token_per_minute=limits.rate_limit_token_per_minute,
        address_per_minute=limits.rate_limit_address_per_minute,
        by_path={"/exchange/messages": limits.rate_limit_inbox_per_minute},
    )
    if limits.cors_origins:  # no cross-origin access from browsers unless configured
        app.add_middleware(CORSMiddleware, allow_origins=limits.cors_origins, allow_methods=["*"], allow_headers=["Authorization", "Content-Type", "Accept", "Accept-Language"], expose_headers=["Retry-After", "Content-Language", "Content-Disposition"])
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_rate_limits(document_problems(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(
        "/health",
        tags=["node"],
        summary="Is the node up, and its database reachable?",
        response_model=Health,
        responses={503: {"description": "The database does not answer: the same body, with `status: degraded`.", "model": Health}},
    )
    def health(node: NodeDep, response: Response) -> dict[str, Any]:
        database = "ok"
        try:
            with node.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            database = "unreachable"
            response.status_code = 503
        return {
            "status": "ok" if database == "ok" else "degraded",
            "version": __version__,
            "country": node.context.country,
            "currency": node.context.currency,
            "database": database,
            "engine": node.engine.dialect.name,
        }

    install_pages(app)  # first: a page shares its address with an API route, and takes only a browser's requests
    for router in ROUTERS:
        app.include_router(router)
    return app
