"""What each page shows, gathered from credence.service (no HTML here, no HTTP).

Kept apart from the routes so that the figures a page prints can be tested
without a browser, and so that the API and the portal read the same facts.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.service import public

if TYPE_CHECKING:
    from credence.core.rulebook import Rulebook
    from credence.service.state import Service

HISTORY_MONTHS = 12


def month_ends(today: dt.date, months: int) -> list[dt.date]:
    """The last day of each of the `months` months before today's, oldest first, then today."""
    days = []
    first = today.replace(day=1)
    for _ in range(months):
        last = first - dt.timedelta(days=1)
        days.append(last)
        first = last.replace(day=1)
    return [*reversed(days), today]


def organisation_page(service: Service, uscc: str) -> dict[str, Any]:
    """The organisation's public view, its lists explained, and its score month by month."""
    view = public.organisation(service, uscc)
    live = service.live()
    specs = {name: resolved.spec for name, resolved in live.lists.items()}
    found = view["assessment"]
    shown = {r["seq"]: f"{r['title']} #{r['seq']}" for r in view["public_records"]}
    lists = []
    for entry in found["lists"]:
        spec = specs.get(entry["list"])
        lists.append(
            {
                **entry,
                "title": spec.title if spec else entry["list"],
                "legal_basis": spec.legal_basis if spec else "",
                "because": [shown.get(seq, f"record #{seq}") for seq in entry["records"]],
            }
        )
    view["lists"] = lists
    view["rulebook"] = live
    view["history"] = score_history(service, view["subject"], live)
    titles = service.registry.catalogue
    view["reasons"] = [
        {**r, "title": titles[r["item"]].title if r["item"] in titles else r["item"]}
        for r in found["reasons"]
    ]
    return view


def score_history(service: Service, subject: str, rulebook: Rulebook) -> dict[str, Any]:
    """The subject's score at each month end, recomputed today from the records now held.

    Records corrected or revoked since are left out, as they are today: the
    chart shows what the current record says about the past, not what was
    believed at the time.
    """
    if rulebook.score is None or not any(
        k.value == "organisation" for k in rulebook.score.subjects
    ):
        return {"labels": [], "values": [], "low": 0, "high": 0}
    days = month_ends(service.today(), HISTORY_MONTHS)
    values: list[float | None] = []
    for day in days:
        found = service.assess_as_of(subject, rulebook, day)
        values.append(found.score)
    return {
        "labels": [d.isoformat() for d in days],
        "values": values,
        "low": rulebook.score.min,
        "high": rulebook.score.max,
    }


def rulebook_diff(old_text: str, new_text: str, old_name: str, new_name: str) -> list[str]:
    """A unified diff of two published rulebooks' YAML, line by line."""
    return list(
        difflib.unified_diff(
            old_text.splitlines(),
            new_text.splitlines(),
            fromfile=old_name,
            tofile=new_name,
            lineterm="",
        )
    )


def home_figures(service: Service) -> dict[str, Any]:
    """What the home page counts: sources and ledger entries (two indexed reads)."""
    from credence.store.schema import sources

    with service.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(sources)).scalar_one()
    return {"sources": int(count), "ledger": service.ledger_head()["size"]}


def rulebooks_page(service: Service, old: str, new: str) -> dict[str, Any]:
    """Every publication, newest first, and the diff of two of them when asked."""
    from credence.service import rulebooks

    history = list(reversed(rulebooks.published(service.registry)))
    by_seq = {str(p.seq): p for p in history if p.seq is not None}
    diff: list[str] = []
    first, second = by_seq.get(old), by_seq.get(new)
    if first is not None and second is not None:
        texts = [rulebooks.publication_body(service.registry, p.seq) or "" for p in (first, second)]
        diff = rulebook_diff(
            texts[0], texts[1], f"#{first.seq} {first.name}", f"#{second.seq} {second.name}"
        )
    live = service.live()
    return {
        "history": history,
        "live": live,
        "live_text": rulebooks.published_text(service.registry, live.name) or "",
        "old": old,
        "new": new,
        "diff": diff,
        "asked": bool(old or new),
    }


def ledger_page(service: Service) -> dict[str, Any]:
    """The latest checkpoint and the commands that let anyone check it."""
    from credence.store.trust import kept_checkpoint_path, make_checkpoint

    registry = service.registry
    head = registry.latest_tree_head()
    text = make_checkpoint(registry, head.size, head.root) if head is not None else ""
    kept_path = kept_checkpoint_path(registry.settings)
    kept = kept_path.read_text(encoding="utf-8") if kept_path.is_file() else ""
    return {
        "checkpoint": text,
        "size": head.size if head else 0,
        "kept": kept,
        "kept_signers": signers(kept),
    }


def signers(note: str) -> list[str]:
    """The key names on a signed note's signature lines ("— name base64"): the log's first,
    then any witness that cosigned it."""
    return [
        line.split()[1] for line in note.splitlines() if line.startswith("— ") and " " in line[2:]
    ]


def statistics_page(service: Service) -> dict[str, Any]:
    """Records, disputes and repairs per source; inquiries per relying party."""
    stats = public.statistics(service)
    rows = []
    for name, figures in sorted(stats["sources"].items()):
        filed = figures.get("disputes", {})
        rows.append(
            {
                "source": name,
                "records": figures["records"],
                "disputes": sum(filed.values()),
                "upheld": filed.get("upheld", 0),
                "lapsed": filed.get("lapsed", 0),
                "repairs": sum(figures.get("repairs", {}).values()),
                "corrections": figures.get("corrections", 0),
                "median_days": _days(figures.get("dispute_days_median")),
            }
        )
    parties = [
        {"party": party, "total": sum(d.values()), **d}
        for party, d in sorted(stats["inquiries"].items())
    ]
    from credence.service.lists import SCORE_BAND, lists_run

    run, _updating = lists_run(service)
    outcomes: dict[str, Any] | None = None
    if run.result is not None:
        held = run.result
        live = service.live()
        order = [g.grade for g in live.score.grades] if live.score else []
        grades = sorted(held.grades, key=lambda g: (order.index(g) if g in order else 99, g))
        bands = sorted(held.scores)
        outcomes = {
            "grades": grades,
            "grade_counts": [held.grades[g] for g in grades],
            "bands": [f"{b}-{b + SCORE_BAND - 1}" for b in bands],
            "band_counts": [held.scores[b] for b in bands],
            "rulebook": live,
        }
    return {"sources": rows, "parties": parties, "outcomes": outcomes, "lists_state": run.state}


def _days(value: float | None) -> str | None:
    """A median number of days as people write it: 6, 6.5."""
    if value is None:
        return None
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def my_file_page(service: Service, subject: str) -> dict[str, Any]:
    """The person's file as the API gives it (GET /v1/me), and the catalogue's titles."""
    from credence.service import files

    view = files.subject_file(service, subject)
    view["titles"] = {code: item.title for code, item in service.registry.catalogue.items.items()}
    return view


# How each evidence level reads to an auditor (credence.identity.model's level names).
LEVEL_WORDS = {
    "name": {
        "exact": "the same name",
        "close": "nearly the same (Jaro-Winkler ≥ 0.94)",
        "similar": "similar (Jaro-Winkler ≥ 0.85)",
        "else": "different",
    },
    "birth_date": {"exact": "the same date", "typo": "one edit apart", "else": "different"},
    "region": {
        "same": "the same district",
        "prefecture": "the same prefecture",
        "else": "different",
    },
}
FIELD_WORDS = {"name": "Name", "birth_date": "Birth date", "region": "Region"}


def review_page(service: Service, queue: list[dict[str, Any]]) -> dict[str, Any]:
    """The auditors' queue as `GET /v1/matches` gives it, each field's evidence in words.

    Nothing is added to what the API shows: each row pairs a field the record
    said with the level its comparison reached and whether it agreed.
    """
    shown = []
    for match in queue:
        evidence = match["evidence"] or {}
        levels = evidence.get("levels", {})
        said = match.get("as_received") or {}
        fields = [f for f in ("name", "birth_date", "region") if f in levels]
        rows = [
            {
                "field": f,
                "label": FIELD_WORDS[f],
                "said": said.get(f),
                "level": levels[f],
                "words": LEVEL_WORDS[f].get(levels[f], levels[f]),
                "agreed": f in evidence.get("agreed", []),
            }
            for f in fields
        ]
        shown.append({**match, "fields": rows})
    titles = {code: item.title for code, item in service.registry.catalogue.items.items()}
    return {"matches": shown, "titles": titles}
