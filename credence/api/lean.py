"""The check, answered by one function, and a lean ASGI path that serves it first.

Checks are the hot path: relying parties ask before every flight, ticket and
loan. Through the framework's stack (middlewares, routing over every route,
dependency solving, request and response objects) a check cost about three
times the trivial endpoint; `answer_check` needs none of it. `LeanChecks`
wraps the FastAPI app and answers `POST /v1/checks` itself; everything else
goes to the app. The FastAPI route (documented in /openapi.json, used by the
in-process tests) calls the same `answer_check`, so there is one code path.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from credence.api.auth import party_for
from credence.service import checks
from credence.service.errors import Invalid, ServiceError
from credence.service.state import Service

log = logging.getLogger("credence.api")
ROUTE = "/v1/checks"
MAX_BODY = 64 * 1024
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _problem(error: ServiceError) -> bytes:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.field is not None:
        body["field"] = error.field
    return orjson.dumps({**body, **error.extra})


def _json_object(raw: bytes, fields: set[str]) -> dict[str, Any]:
    """A JSON object with exactly `fields` (errors name the field, never echo a value)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", field="body")
    extra = sorted(set(body) - fields)
    if extra:
        raise Invalid(f"field {extra[0]!r} is not allowed", field=extra[0][:64])
    for name in sorted(fields):
        if name not in body:
            raise Invalid("is required", field=name)
    return body


async def answer_check(service: Service, authorization: str, raw: bytes) -> tuple[int, bytes]:
    """(status, JSON body) of a check: the decision, logged durably first, or a problem.

    A cached answer is taken on the event loop (microseconds); a new one is
    computed on the service's executor (SQLite works without the GIL, and the
    loop goes on serving); the inquiry row is committed (in a group with the
    checks in flight) before the answer is returned.
    """
    try:
        party = party_for(service, authorization, ("relying-party",), "POST", ROUTE)
        if len(raw) > MAX_BODY:
            raise Invalid("the body is too large for a check", field="body")
        body = _json_object(raw, {"subject", "purpose"})
        subject, purpose = body["subject"], body["purpose"]
        prepared = checks.prepare(service, party, subject, purpose, cached_only=True)
        if prepared is None:
            prepared = await asyncio.get_running_loop().run_in_executor(
                service.executor, checks.prepare, service, party, subject, purpose
            )
        assert prepared is not None
        inquiry = await service.log.arecord(**prepared.row)
        return 200, orjson.dumps(prepared.finish(inquiry))
    except ServiceError as error:
        return error.status, _problem(error)


class LeanChecks:
    """ASGI wrapper: `POST /v1/checks` answered by `answer_check`, the rest by `app`."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != ROUTE or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        try:
            raw = await _body(receive)
            status, body = await answer_check(self.service, authorization, raw)
        except Exception as exc:  # as credence.api.problems does for the framework's routes
            incident = uuid.uuid4().hex[:12]
            log.error("incident %s on POST %s: %s", incident, ROUTE, type(exc).__name__)
            error = ServiceError(f"the server failed; quote incident {incident}")
            error.status, error.title = 500, "Internal error"
            status, body = 500, _problem(error)
        media = b"application/json" if status < 400 else b"application/problem+json"
        headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY + 1:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
