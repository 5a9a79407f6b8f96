"""Running the API under uvicorn: one process, loopback by default, no access log.

uvicorn's access log would write request paths, and a path can hold a
resident ID (`/v1/subjects/ric:...`), so it is off; errors are logged with
the route template only (credence.api.problems).
"""

from __future__ import annotations

import gc
import logging
import time

from credence.settings import Settings
from credence.store.registry import Registry

GC_THRESHOLDS = (50_000, 20, 100)
# How often the warm-up thread looks whether the prepared answers still serve.
PREPARED_POLL_SECONDS = 30.0


def build(settings: Settings) -> tuple[object, object]:
    """(app, service) for the registry in `settings`."""
    from credence.api.app import create_app
    from credence.api.lean import LeanChecks
    from credence.service.state import Service

    registry = Registry.open(settings)
    service = Service(registry, settings)
    # Answers cached and prepared are millions of small objects that live for hours; with
    # the default thresholds the collector walked them all every few thousand requests
    # (pauses of 50-100 ms, the checks' p99). Collect the young generations less often.
    gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])
    _warm_portal(service)
    return LeanChecks(create_app(service), service), service


def _warm_portal(service: object) -> None:
    """Prepare the portal in the background: compile the live rulebook for the score
    history's days (about 0.15 s each), read organisations' names into the index and
    the region table's counties into the ID check's cache, so the first visitor or
    submitted batch does not wait for any of them.
    """
    import threading

    from credence.core.ids import warm_regions
    from credence.portal.views import HISTORY_MONTHS, month_ends
    from credence.service.state import Service

    assert isinstance(service, Service)

    def warm() -> None:
        try:
            warm_regions()
            service.warm_history(month_ends(service.today(), HISTORY_MONTHS))
            service.names()  # the name index, read once from the store
            if service.settings.prepare_answers:
                _prepare(service)
        except Exception as exc:  # the pages compile on demand instead
            logging.getLogger("credence.api").warning("portal warm-up failed: %s", exc)
        finally:
            service.warmed.set()
        while service.settings.prepare_answers:  # a new day, or another rulebook live
            time.sleep(PREPARED_POLL_SECONDS)
            prepared = service.prepared
            if prepared is None or not prepared.serves(
                service.today(), service.live().content_hash
            ):
                _prepare(service)

    service.warmed.clear()
    threading.Thread(target=warm, name="portal-warm-up", daemon=True).start()


def _prepare(service: object) -> None:
    """Every subject's answer from one batch run (credence.service.prepared); on failure
    the answers are computed on the store, as without it."""
    from credence.service.prepared import prepare
    from credence.service.state import Service

    assert isinstance(service, Service)
    gc.unfreeze()  # the previous answers (frozen below) may be collected once replaced
    try:
        service.prepared = prepare(service)
    except Exception as exc:
        logging.getLogger("credence.api").warning("preparing answers failed: %s", exc)
    # Hundreds of thousands of long-lived objects: out of the collector's sight, or each
    # full collection walks them all (pauses of ~100 ms at 50,000 subjects, seen as the
    # checks' p99 in bench_service).
    gc.collect()
    gc.freeze()


def serve(settings: Settings, announce: bool = True) -> None:
    """Serve until interrupted."""
    import sys

    import uvicorn

    app, service = build(settings)
    # The inquiry log's writer thread needs the GIL for a moment before and after each
    # durable commit; by default it waits up to 5 ms for the busy event loop to yield it.
    sys.setswitchinterval(0.0005)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_level="info" if announce else "warning",
            server_header=False,
            proxy_headers=False,  # behind a proxy, set --forwarded-allow-ips yourself
        )
    finally:
        service.close()  # type: ignore[attr-defined]
