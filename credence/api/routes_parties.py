"""Routes for parties with a key: sources, relying parties, subjects, auditors, admins."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from credence.api.auth import require, service_of
from credence.api.models import (
    DisputeAnswer,
    DisputeRequest,
    KeyRequest,
    MatchReason,
    PublishRequest,
    RepairAnswer,
    RepairRequest,
    SourceRequest,
)
from credence.service import checks, disputes, files, idempotency, matches, public, submit
from credence.service.errors import Invalid, NotFound, ServiceError
from credence.service.inquiries import inquiries_about
from credence.service.keys import Party

router = APIRouter(prefix="/v1")

Source = Annotated[Party, Depends(require("source"))]
RelyingParty = Annotated[Party, Depends(require("relying-party"))]
Subject = Annotated[Party, Depends(require("subject"))]
Auditor = Annotated[Party, Depends(require("auditor"))]
Admin = Annotated[Party, Depends(require("admin"))]

MAX_BODY = 16 * 1024 * 1024


# --- sources -----------------------------------------------------------------------------


@router.post(
    "/records",
    tags=["sources"],
    summary="Submit one record or a batch ({'records': [...]}); all or nothing, with receipts",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
    },
)
async def submit_records(request: Request, party: Source) -> Response:
    service = service_of(request)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ServiceError(f"the body is larger than {MAX_BODY >> 20} MiB", field="body")
    idem = request.headers.get("idempotency-key")
    digest = idempotency.request_hash("POST", "/v1/records", raw)
    if idem is not None:
        keep = service.settings.idempotency_hours * 3600
        stored = await run_in_threadpool(
            idempotency.claim, service.engine, party.id, idem, digest, keep
        )
        if stored is not None:
            return Response(stored.body, stored.status, media_type=_media(stored.status))
    try:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"the body is not JSON: {exc}", field="body") from None
        result = await run_in_threadpool(submit.submit, service, party, body)
        status, out = 201, orjson.dumps(result)
    except ServiceError as exc:
        from credence.api.problems import problem

        response = problem(exc.status, exc.detail, exc.field, **exc.extra)
        status, out = exc.status, bytes(response.body)
    except BaseException:
        if idem is not None:
            await run_in_threadpool(idempotency.finish, service.engine, party.id, idem, 500, b"")
        raise
    if idem is not None:
        await run_in_threadpool(idempotency.finish, service.engine, party.id, idem, status, out)
    return Response(out, status, media_type=_media(status))


def _media(status: int) -> str:
    return "application/json" if status < 400 else "application/problem+json"


@router.get("/receipts/{seq}", tags=["sources"], summary="A receipt for one of your records")
def get_receipt(request: Request, party: Source, seq: int) -> dict[str, Any]:
    return submit.receipt(service_of(request), party, seq)


@router.get("/disputes", tags=["sources"], summary="Disputes about your records")
def list_disputes(
    request: Request, party: Source, status: str | None = Query(None, max_length=16)
) -> dict[str, Any]:
    return {"disputes": disputes.disputes_for_source(service_of(request), party, status)}


@router.post("/disputes/{dispute_id}/answer", tags=["sources"], summary="Answer a dispute")
def answer_dispute(
    request: Request, party: Source, dispute_id: int, body: DisputeAnswer
) -> dict[str, Any]:
    return disputes.answer_dispute(
        service_of(request), party, dispute_id, body.outcome, body.answer, body.by
    )


@router.get("/repairs", tags=["sources"], summary="Credit-repair applications about your records")
def list_repairs(
    request: Request, party: Source, status: str | None = Query(None, max_length=16)
) -> dict[str, Any]:
    return {"repairs": disputes.repairs_for_source(service_of(request), party, status)}


@router.post("/repairs/{repair_id}/answer", tags=["sources"], summary="Answer a repair application")
def answer_repair(
    request: Request, party: Source, repair_id: int, body: RepairAnswer
) -> dict[str, Any]:
    return disputes.answer_repair(service_of(request), party, repair_id, body.outcome, body.answer)


@router.post(
    "/unidentified",
    tags=["sources"],
    status_code=201,
    summary="Submit records without a valid ID (name, birth date, region): matched, then reviewed",
)
def submit_unidentified(
    request: Request, party: Source, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    return matches.receive(service_of(request), party, body)


# --- relying parties ---------------------------------------------------------------------


CHECK_SCHEMA = {
    "type": "object",
    "required": ["subject", "purpose"],
    "additionalProperties": False,
    "properties": {
        "subject": {"type": "string", "description": "ric:<resident ID> or uscc:<USCC>"},
        "purpose": {"type": "string", "description": "What it is for, e.g. flight-booking"},
    },
}


@router.post(
    "/checks",
    tags=["relying parties"],
    summary="What applies to a subject for a purpose: allow, deny or review, with reasons",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": CHECK_SCHEMA}}}
    },
)
async def post_check(request: Request) -> Response:
    """Served by `credence.api.lean.answer_check`, the same function the lean ASGI path
    in front of the framework calls (credence.api.lean): one code path."""
    from credence.api.lean import answer_check

    status, body = await answer_check(
        service_of(request), request.headers.get("authorization", ""), await request.body()
    )
    media = "application/json" if status < 400 else "application/problem+json"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status, media_type=media, headers=headers)


# --- subjects ----------------------------------------------------------------------------


@router.get("/me", tags=["subjects"], summary="Your file: records, assessments, who looked")
def my_file(request: Request, party: Subject) -> dict[str, Any]:
    assert party.subject is not None
    return files.subject_file(service_of(request), party.subject)


@router.post("/me/disputes", tags=["subjects"], status_code=201, summary="Dispute a record")
def file_dispute(request: Request, party: Subject, body: DisputeRequest) -> dict[str, Any]:
    return disputes.file_dispute(service_of(request), party, body.seq, body.reason)


@router.post(
    "/me/matches/{match_id}/dispute",
    tags=["subjects"],
    summary="Dispute a probabilistic match in your file (it stops counting at once)",
)
def dispute_match(
    request: Request, party: Subject, match_id: int, body: MatchReason
) -> dict[str, Any]:
    return matches.dispute(service_of(request), party, match_id, body.reason)


@router.post("/me/repairs", tags=["subjects"], status_code=201, summary="Apply for credit repair")
def apply_repair(request: Request, party: Subject, body: RepairRequest) -> dict[str, Any]:
    return disputes.apply_repair(service_of(request), party, body.seq, body.statement)


# --- auditors ----------------------------------------------------------------------------


@router.get(
    "/subjects/{subject}",
    tags=["auditors"],
    summary="Any subject's file (the read is logged and shown to the subject)",
)
def subject_file(request: Request, party: Auditor, subject: str) -> dict[str, Any]:
    service = service_of(request)
    key = _logged_read(request, party, subject, "audit")
    return files.subject_file(service, key)


def _logged_read(request: Request, party: Party, subject: str, purpose: str) -> str:
    """The canonical subject, after logging the auditor's read of it (the person sees it)."""
    key = checks.canonical_subject(subject)
    service_of(request).log.record(
        subject=key,
        key_id=party.id,
        party=party.name,
        role=party.role,
        action="read",
        purpose=purpose,
        decision="read",
        rulebook=None,
        ledger_size=None,
    )
    return key


@router.get("/inquiries", tags=["auditors"], summary="Inquiries about one subject")
def list_inquiries(
    request: Request, party: Auditor, subject: str = Query(max_length=64)
) -> dict[str, Any]:
    key = _logged_read(request, party, subject, "audit-inquiries")
    return {"subject": key, "inquiries": inquiries_about(service_of(request).engine, key)}


@router.get("/matches", tags=["auditors"], summary="Probabilistic matches awaiting review")
def review_matches(request: Request, party: Auditor) -> dict[str, Any]:
    return {"matches": matches.review_queue(service_of(request), party)}


@router.post("/matches/{match_id}/confirm", tags=["auditors"], summary="Confirm a match")
def confirm_match(request: Request, party: Auditor, match_id: int) -> dict[str, Any]:
    return matches.confirm(service_of(request), party, match_id)


@router.post("/matches/{match_id}/reject", tags=["auditors"], summary="Reject a match")
def reject_match(
    request: Request, party: Auditor, match_id: int, body: MatchReason
) -> dict[str, Any]:
    return matches.reject(service_of(request), party, match_id, body.reason)


@router.get("/statistics", tags=["auditors"], summary="Records, disputes, repairs, inquiries")
def statistics(request: Request, party: Auditor) -> dict[str, Any]:
    return public.statistics(service_of(request))


@router.get(
    "/ledger/records/{seq}",
    tags=["auditors"],
    summary="A record with its salt and subject hash, to recompute its leaf (personal data)",
)
def ledger_record(request: Request, party: Auditor, seq: int) -> dict[str, Any]:
    from credence.store.database import StoreError
    from credence.store.proofs import record_document

    try:
        return record_document(service_of(request).registry, seq)
    except StoreError as exc:
        raise NotFound(str(exc), field="seq") from None


# --- admins ------------------------------------------------------------------------------


@router.post("/sources", tags=["admins"], status_code=201, summary="Register a source")
def add_source(request: Request, party: Admin, body: SourceRequest) -> dict[str, Any]:
    from credence.store.database import StoreError

    try:
        source, created = service_of(request).registry.add_source(body.name, body.items)
    except StoreError as exc:
        raise Invalid(str(exc), field="items" if "pattern" in str(exc) else "name") from None
    return {"name": source.name, "patterns": list(source.patterns), "created": created}


@router.post("/keys", tags=["admins"], status_code=201, summary="Issue a key (shown once)")
def issue_key(request: Request, party: Admin, body: KeyRequest) -> dict[str, Any]:
    from credence.service.keys import issue_key as issue

    key, issued = _keys_call(
        issue,
        service_of(request).registry,
        body.role,
        body.name,
        purposes=tuple(body.purposes),
        subject=body.subject,
        source=body.source,
    )
    return {"key": key, "id": issued.id, "prefix": issued.prefix, "role": issued.role}


@router.get("/keys", tags=["admins"], summary="Issued keys (never the keys themselves)")
def list_keys(request: Request, party: Admin) -> dict[str, Any]:
    from credence.service.keys import list_keys as listing

    return {
        "keys": [
            {
                "id": p.id,
                "prefix": p.prefix,
                "role": p.role,
                "name": p.name,
                "purposes": sorted(p.purposes),
                "source": p.source,
            }
            for p in listing(service_of(request).registry)
        ]
    }


@router.post("/keys/{key_id}/revoke", tags=["admins"], summary="Revoke a key")
def revoke_key(request: Request, party: Admin, key_id: str) -> dict[str, Any]:
    from credence.service.keys import revoke_key as revoke

    done = _keys_call(revoke, service_of(request).registry, key_id)
    return {"id": done.id, "prefix": done.prefix, "revoked": True}


@router.post("/rulebooks", tags=["admins"], status_code=201, summary="Publish a rulebook")
def publish_rulebook(request: Request, party: Admin, body: PublishRequest) -> dict[str, Any]:
    from credence.service import rulebooks

    service = service_of(request)
    published: dict[str, Any] = rulebooks.publish_view(service.registry, body.rulebook)
    service.touch()
    return published


def _keys_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a keys-service call, turning its validation errors into 422s naming the field."""
    from credence.core.ids import InvalidSubject
    from credence.store.database import StoreError

    try:
        return fn(*args, **kwargs)
    except InvalidSubject as exc:
        raise Invalid(str(exc), field="subject") from None
    except (StoreError, ValueError) as exc:
        raise Invalid(str(exc), field="role") from None
