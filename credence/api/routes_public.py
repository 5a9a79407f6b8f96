"""Routes anyone may call without a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from credence.api.auth import service_of
from credence.service import public
from credence.service.errors import Invalid, NotFound

router = APIRouter(prefix="/v1", tags=["public"])


@router.get("/health", summary="Liveness (the benchmark's trivial endpoint)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: 200 once start-up warm-up is done, 503 while it runs",
    responses={503: {"description": "still warming up; retry shortly"}},
)
async def ready(request: Request) -> dict[str, str]:
    """Load balancers and benchmarks wait for this before sending traffic: the
    warm-up (region table, rulebook compiled for the score history, name index)
    competes with requests for the interpreter while it runs."""
    from credence.service.errors import Unavailable

    if not service_of(request).warmed.is_set():
        raise Unavailable("warming up: the rulebook and indexes are being prepared")
    return {"status": "ready"}


@router.get("/catalogue", summary="The published catalogue of record items")
def catalogue(request: Request) -> dict[str, Any]:
    cat = service_of(request).registry.catalogue
    return {
        **cat.ref,
        "items": [item.model_dump(mode="json") for item in cat.items.values()],
    }


@router.get("/rulebooks", summary="Published rulebooks (which one is live)")
def rulebooks_list(request: Request) -> dict[str, Any]:
    from credence.service import rulebooks

    return {"rulebooks": rulebooks.published_view(service_of(request).registry)}


@router.get("/rulebooks/{name}", summary="One published rulebook, as published (YAML)")
def rulebook_text(request: Request, name: str) -> PlainTextResponse:
    from credence.service import rulebooks

    text = rulebooks.published_text(service_of(request).registry, name)
    if text is None:
        raise NotFound(f"no published rulebook named {name!r}", field="name")
    return PlainTextResponse(text, media_type="application/yaml")


@router.get("/organisations", summary="Find organisations by registered name (Chinese or Latin)")
def find_organisations(
    request: Request, name: str = Query(min_length=1, max_length=100)
) -> dict[str, Any]:
    return public.find_organisations(service_of(request), name)


@router.get("/organisations/{uscc}", summary="An organisation's public record and grade")
def organisation(request: Request, uscc: str) -> dict[str, Any]:
    return public.organisation(service_of(request), uscc)


@router.get(
    "/ledger/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=PlainTextResponse,
)
def checkpoint(request: Request) -> PlainTextResponse:
    from credence.store.trust import make_checkpoint

    service = service_of(request)
    head = service.registry.latest_tree_head()
    if head is None:
        raise NotFound("the ledger has no signed head yet")
    text = make_checkpoint(service.registry, head.size, head.root)
    return PlainTextResponse(text)


@router.get(
    "/ledger/proofs/inclusion",
    summary="Inclusion proof of entry `seq` in the tree of `size` (C2SP tlog-proof hashes)",
)
def inclusion_proof(
    request: Request, seq: int = Query(ge=0), size: int | None = Query(None, ge=1)
) -> dict[str, Any]:
    from credence.service.submit import b64
    from credence.store.proofs import inclusion

    service = service_of(request)
    tree = size or service.registry.ledger_size()
    if seq >= tree:
        raise Invalid(f"entry {seq} is not in a tree of {tree} entries", field="seq")
    proof = inclusion(service.engine, seq, tree)
    return {"seq": seq, "tree_size": tree, "inclusion_proof": [b64(h) for h in proof]}


@router.get("/ledger/proofs/consistency", summary="Consistency proof between two tree sizes")
def consistency_proof(
    request: Request, old: int = Query(ge=1), new: int | None = Query(None, ge=1)
) -> dict[str, Any]:
    from credence.service.submit import b64
    from credence.store.proofs import consistency

    service = service_of(request)
    tree = new or service.registry.ledger_size()
    if old > tree:
        raise Invalid(f"old size {old} is larger than the tree ({tree})", field="old")
    proof = consistency(service.engine, old, tree)
    return {"old_size": old, "new_size": tree, "consistency_proof": [b64(h) for h in proof]}
