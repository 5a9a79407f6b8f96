"""The application: `create_app(service)` wires the routers; `credence serve` runs it.

Routers are thin: each parses its input, checks the caller's role, and calls
one function of credence.service, the same the CLI calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from credence.api import problems
from credence.api.routes_parties import router as parties_router
from credence.api.routes_public import router as public_router
from credence.service.state import Service

log = logging.getLogger("credence.api")
SWEEP_SECONDS = 60.0

DESCRIPTION = """
credence's API for sources (submit records, answer disputes and repairs), relying
parties (checks for the purposes they were issued), subjects (their own file,
disputes, credit repair), auditors (any file, the ledger, inquiries, statistics) and
admins (sources, keys, rulebooks). Send `Authorization: Bearer <key>`; keys are issued
with `credence key issue`. Errors are RFC 9457 problem documents naming the field.
Without a key: organisations' public records, the catalogue, published rulebooks, the
latest checkpoint and proofs. Nothing about a person is public.
"""


def create_app(service: Service, sweep_seconds: float | None = SWEEP_SECONDS) -> FastAPI:
    """The FastAPI app over `service`; deadlines are swept every `sweep_seconds`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (catalogue, rulebooks, compiled SQL, libraries) lives
        # as long as the server: keep it out of the collector's full passes, which
        # otherwise stall every request for 100+ ms now and then.
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(_sweeper(service, sweep_seconds)) if sweep_seconds else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    app = FastAPI(
        title="credence",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads a CDN
        redoc_url=None,
    )
    app.state.service = service
    _local_docs(app)
    _bearer_in_schema(app)
    problems.install(app)
    app.include_router(public_router)
    app.include_router(parties_router)
    _portal(app)
    return app


def _portal(app: FastAPI) -> None:
    """The public portal's pages and its static files (credence.portal), outside /v1."""
    from pathlib import Path

    from fastapi.staticfiles import StaticFiles

    from credence.portal.review import router as review_router
    from credence.portal.routes import router

    static = Path(__file__).parent.parent / "portal" / "static"
    app.mount("/portal-static", StaticFiles(directory=static), name="portal-static")
    app.include_router(router)
    app.include_router(review_router)


def _bearer_in_schema(app: FastAPI) -> None:
    """Declare the Bearer key in /openapi.json (every route but the public ones), so
    clients and the docs' Authorize button know how to send it."""
    from typing import Any

    from fastapi.openapi.utils import get_openapi

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            spec.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a credence key"}
            }
            for ops in spec["paths"].values():
                for op in ops.values():
                    if "public" not in op.get("tags", []):
                        op["security"] = [{"bearer": []}]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def _local_docs(app: FastAPI) -> None:
    """Interactive docs at /docs with Swagger UI 5 shipped in a package (fastapi-offline's
    static files), so they work where the browser cannot reach a CDN, and no third party
    learns who reads them."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from starlette.responses import HTMLResponse

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs/static", StaticFiles(directory=static), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="credence API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
        )


async def _sweeper(service: Service, every: float | None) -> None:
    """Due process on time: lapse every dispute past its deadline, now and periodically;
    and forget Idempotency-Keys past their keeping time."""
    from credence.service import idempotency
    from credence.service.disputes import lapse_overdue

    while True:
        try:
            lapsed = await asyncio.to_thread(lapse_overdue, service)
            if lapsed:
                log.info("%d dispute(s) lapsed past their deadline; records suppressed", lapsed)
        except Exception as exc:  # keep sweeping; the next check sweeps its subject anyway
            log.error("deadline sweep failed: %s", type(exc).__name__)
        try:
            keep = service.settings.idempotency_hours * 3600
            await asyncio.to_thread(idempotency.expire, service.engine, keep)
        except Exception as exc:  # the next sweep tries again; claims expire keys anyway
            log.error("idempotency sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(every or SWEEP_SECONDS)
