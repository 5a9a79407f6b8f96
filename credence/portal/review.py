"""The auditors' review page (/review): the probabilistic matches waiting for a decision.

An auditor signs in with their key, kept exactly as a person's is at /me: an
HttpOnly, SameSite=Strict cookie, here scoped to /review, so no script reads
it, no other site can make the browser send it (which is what keeps the
confirm and reject forms from being forged elsewhere) and no other page
receives it. The page shows what `GET /v1/matches` shows, and nothing more,
and calls the same service functions (credence.service.matches): the queue
logs every person shown as the auditor's read, and confirming or rejecting
here is `POST /v1/matches/{id}/confirm|reject`. A wrong key, or a valid key of
another role, gets the sign-in page again with the same words either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from credence.api.auth import service_of
from credence.portal import views
from credence.portal.routes import page, problem_page
from credence.service import matches
from credence.service.errors import NotFound, ServiceError
from credence.service.keys import Party, authenticate
from credence.service.state import Service

router = APIRouter(include_in_schema=False)
COOKIE = "credence_auditor_key"
PATH = "/review"


def _signed_in(request: Request) -> Party | None:
    """The auditor whose key the cookie holds; None for no key, a bad one or another role."""
    key = request.cookies.get(COOKIE, "")
    if not key:
        return None
    party = authenticate(service_of(request).registry, key)
    return party if party is not None and party.role == "auditor" else None


def _refused(request: Request, failed: bool = False) -> HTMLResponse:
    return page(request, "review_sign_in.html", status=401, failed=failed)


@router.get(PATH, response_class=HTMLResponse)
def review(request: Request, notice: str = "") -> HTMLResponse:
    party = _signed_in(request)
    if party is None:
        return _refused(request)
    service = service_of(request)
    queue = matches.review_queue(service, party)  # logs each person shown as a read
    return page(request, "review.html", notice=notice, **views.review_page(service, queue))


@router.post(f"{PATH}/sign-in")
def sign_in(request: Request, key: str = Form("")) -> Response:
    party = authenticate(service_of(request).registry, key.strip())
    if party is None or party.role != "auditor":
        return _refused(request, failed=True)
    response = RedirectResponse(PATH, status_code=303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PATH,
    )
    return response


@router.post(f"{PATH}/sign-out")
def sign_out() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path=PATH)
    return response


@router.post(f"{PATH}/confirm")
def confirm(request: Request, match: str = Form("")) -> Response:
    return _decide(request, "confirmed", match, lambda s, p, case: matches.confirm(s, p, case))


@router.post(f"{PATH}/reject")
def reject(request: Request, match: str = Form(""), reason: str = Form("")) -> Response:
    return _decide(
        request, "rejected", match, lambda s, p, case: matches.reject(s, p, case, reason)
    )


def _decide(
    request: Request,
    outcome: str,
    match: str,
    act: Callable[[Service, Party, int], dict[str, Any]],
) -> Response:
    """Confirm or reject one match as the signed-in auditor, then show the queue again."""
    party = _signed_in(request)
    if party is None:
        return _refused(request)
    try:
        if not match.strip().isdigit():
            raise NotFound("there is no such match", field="match")
        done = act(service_of(request), party, int(match))
    except ServiceError as error:
        return problem_page(request, error)
    return RedirectResponse(f"{PATH}?notice={outcome}-{done['id']}", status_code=303)
