"""The portal's pages: thin handlers that gather a view and render its template.

Public pages need no key. The person's pages (/me) need their subject key:
given once in the sign-in form, it is kept in an HttpOnly, SameSite=Strict
cookie scoped to /me, so no script can read it and no other site can send
it; signing out deletes it. Every refusal looks the same whatever was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from credence.api.auth import service_of
from credence.core.ids import InvalidSubject, check_uscc
from credence.portal import charts, views
from credence.service import public
from credence.service.errors import NotFound, ServiceError
from credence.service.keys import Party, authenticate
from credence.service.state import Service

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(bar_chart=charts.bar_chart, line_chart=charts.line_chart)
router = APIRouter(include_in_schema=False)
COOKIE = "credence_subject_key"


def _valid_uscc(text: str) -> bool:
    """A well-formed USCC with its check character (a resident ID never passes)."""
    try:
        check_uscc(text)
    except InvalidSubject:
        return False
    return True


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


def problem_page(request: Request, error: ServiceError) -> HTMLResponse:
    return page(request, "error.html", status=error.status, error=error)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str = "") -> Response:
    query = q.strip().upper().replace(" ", "").removeprefix("USCC:")
    if query and _valid_uscc(query):
        return RedirectResponse(f"/organisations/{query}", status_code=303)
    service = service_of(request)
    found = public.find_organisations(service, q) if query else None
    return page(request, "home.html", q=q, found=found, stats=views.home_figures(service))


@router.get("/organisations/{uscc}", response_class=HTMLResponse)
def organisation(request: Request, uscc: str) -> HTMLResponse:
    try:
        view = views.organisation_page(service_of(request), uscc)
    except ServiceError as error:
        return problem_page(request, error)
    return page(request, "organisation.html", **view)


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue(request: Request) -> HTMLResponse:
    cat = service_of(request).registry.catalogue
    return page(request, "catalogue.html", catalogue=cat, items=list(cat.items.values()))


@router.get("/rulebooks", response_class=HTMLResponse)
def rulebooks(request: Request, old: str = "", new: str = "") -> HTMLResponse:
    view = views.rulebooks_page(service_of(request), old, new)
    return page(request, "rulebooks.html", **view)


@router.get("/ledger", response_class=HTMLResponse)
def ledger(request: Request) -> HTMLResponse:
    return page(request, "ledger.html", **views.ledger_page(service_of(request)))


@router.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request) -> HTMLResponse:
    return page(request, "statistics.html", **views.statistics_page(service_of(request)))


@router.get("/lists", response_class=HTMLResponse)
def lists(request: Request, list: str = "", region: str = "", page: int = 1) -> HTMLResponse:
    from credence.service.lists import history_run, lists_run, page_of

    service = service_of(request)
    run, updating = lists_run(service)
    live = service.live()
    specs = [r.spec for r in live.lists.values()]
    context: dict[str, Any] = {
        "run": run,
        "updating": updating,
        "live": live,
        "list": list,
        "region": region,
        "specs": specs,
        "history": None,
    }
    if run.result is not None:
        context.update(page_of(run.result, list, region, page), held=run.result)
        context["sizes"] = [run.result.organisations.get(spec.name, 0) for spec in specs]
        history = history_run(service)  # after today's count: the worker runs one at a time
        context["history"] = history.result
    return templates.TemplateResponse(request, "lists.html", context)


@router.get("/simulation", response_class=HTMLResponse)
def simulation(request: Request, draft: str = "") -> HTMLResponse:
    from credence.service.simulations import summary

    service = service_of(request)
    context: dict[str, Any] = {
        "drafts": service.simulations.drafts(service),
        "draft": draft,
        "live": service.live(),
        "run": None,
    }
    if draft:
        try:
            run = service.simulations.get_or_start(service, draft)
        except ServiceError as error:
            return problem_page(request, error)
        context["run"] = run
        if run.result is not None:
            context["summary"] = summary(run.result)
    return page(request, "simulation.html", **context)


# --- the person's own file ----------------------------------------------------------------


def _signed_in(request: Request) -> Party | None:
    key = request.cookies.get(COOKIE, "")
    if not key:
        return None
    party = authenticate(service_of(request).registry, key)
    return party if party is not None and party.role == "subject" else None


@router.get("/me", response_class=HTMLResponse)
def my_file(request: Request, notice: str = "") -> HTMLResponse:
    party = _signed_in(request)
    if party is None or party.subject is None:
        return page(request, "sign_in.html", status=401, failed=False)
    view = views.my_file_page(service_of(request), party.subject)
    return page(request, "me.html", notice=notice, **view)


@router.post("/me/sign-in")
def sign_in(request: Request, key: str = Form("")) -> Response:
    party = authenticate(service_of(request).registry, key.strip())
    if party is None or party.role != "subject":
        return page(request, "sign_in.html", status=401, failed=True)
    response = RedirectResponse("/me", status_code=303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/me",
    )
    return response


@router.post("/me/sign-out")
def sign_out() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/me")
    return response


@router.post("/me/repairs")
def repair(request: Request, seq: str = Form(""), statement: str = Form("")) -> Response:
    from credence.service import disputes

    return _open_case(request, "repair", disputes.apply_repair, seq, statement)


@router.post("/me/disputes")
def dispute(request: Request, seq: str = Form(""), reason: str = Form("")) -> Response:
    from credence.service import disputes

    return _open_case(request, "dispute", disputes.file_dispute, seq, reason)


@router.post("/me/matches/dispute")
def dispute_match(request: Request, match: str = Form(""), reason: str = Form("")) -> Response:
    from credence.service import matches

    def file(service: Service, party: Party, case: object, text: object) -> dict[str, Any]:
        if not isinstance(case, int):
            raise NotFound("there is no such match in your file", field="match")
        return matches.dispute(service, party, case, text)

    return _open_case(request, "match", file, match, reason)


def _open_case(
    request: Request,
    kind: str,
    file: Callable[[Service, Party, object, object], dict[str, Any]],
    seq: str,
    text: str,
) -> Response:
    """File a dispute or a repair for the signed-in person, then show their file again."""
    party = _signed_in(request)
    if party is None:
        return page(request, "sign_in.html", status=401, failed=False)
    try:
        number: object = int(seq) if seq.strip().isdigit() else seq  # a form sends text
        made = file(service_of(request), party, number, text)
    except ServiceError as error:
        return problem_page(request, error)
    anchor = "matches" if kind == "match" else "disputes"
    return RedirectResponse(f"/me?notice={kind}-{made['id']}#{anchor}", status_code=303)
