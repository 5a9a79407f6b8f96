"""Bearer keys and roles: who may call what; every refusal is logged without personal data.

A failed authentication says the same thing whatever the path asked for, so
it reveals nothing about whether a subject exists.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import sqlalchemy as sa
from fastapi import Request

from credence.service.errors import Forbidden, ServiceError, Unauthorized
from credence.service.inquiries import now_iso
from credence.service.keys import Party, authenticate
from credence.service.state import Service
from credence.store.schema import access_denials


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def log_denial(
    service: Service, method: str, route: str, status: int, reason: str, party: Party | None
) -> None:
    """One refused request: the route template, never the path (it can hold an ID)."""
    with service.engine.begin() as conn:
        conn.execute(
            sa.insert(access_denials).values(
                at=now_iso(),
                key_prefix=party.prefix if party else None,
                role=party.role if party else None,
                method=method,
                route=route[:128],
                status=status,
                reason=reason[:200],
            )
        )


def party_for(
    service: Service, authorization: str, roles: tuple[str, ...], method: str, route: str
) -> Party:
    """The caller's Party if its key is valid and its role one of `roles`; else 401/403."""

    def deny(error: ServiceError, party: Party | None = None) -> None:
        log_denial(service, method, route, error.status, error.detail, party)
        raise error

    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        deny(Unauthorized("send Authorization: Bearer <key>"))
    party = authenticate(service.registry, key.strip())
    if party is None:
        deny(Unauthorized("the key is not valid (unknown or revoked)"))
    assert party is not None
    if party.role not in roles:
        deny(
            Forbidden(f"a {party.role} key may not use this endpoint ({', '.join(roles)} only)"),
            party,
        )
    return party


def authorize(request: Request, roles: tuple[str, ...]) -> Party:
    """`party_for` the request's Authorization header."""
    route = getattr(request.scope.get("route"), "path", "?")
    return party_for(
        service_of(request),
        request.headers.get("authorization", ""),
        roles,
        request.method,
        route,
    )


def require(*roles: str) -> Callable[[Request], Coroutine[Any, Any, Party]]:
    """A dependency: the caller's Party, if its key is valid and its role one of `roles`.

    Async, so it runs on the event loop: a valid key is a cache hit (credence.service.keys),
    cheaper than the hop to a worker thread.
    """

    async def dependency(request: Request) -> Party:
        return authorize(request, roles)

    dependency.__name__ = f"require_{'_'.join(r.replace('-', '_') for r in roles)}"
    return dependency
