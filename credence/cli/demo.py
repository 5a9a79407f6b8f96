"""`credence demo`: the whole registry on one machine, start to finish.

Initialises the registry, synthesises a city (once; a second run reuses it
and shows that re-ingesting adds nothing), registers its sources, ingests
every file, verifies the ledger, scores everyone under gov-default with the batch engine
and prints a report. With
CREDENCE_DEMO_NO_SERVE set it exits when done; otherwise it issues demo keys,
prints example calls and serves the API (`credence serve`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from credence.cli.common import progress_bar
from credence.cli.scoring import add_outcome_count, score_summary, stage_progress, summarise
from credence.ingest.pipeline import IngestReport, ingest_file
from credence.ingest.worker import resident_worker
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.trust import kept_claims
from credence.store.verify import verify_registry
from credence.synth.city import CityManifest, planned_records, read_manifest, synthesise

DEMO_SEED = 2026
DEMO_RECORDS_PER_SUBJECT = 10.0  # about 1 million rows: a few minutes end to end


def run_demo(settings: Settings, console: Console) -> None:
    started = time.perf_counter()
    registry, _ = Registry.init(settings)
    city_dir = settings.data_dir / "demo-city"
    with progress_bar() as bar:
        manifest = _city(city_dir, settings.demo_subjects, bar)
        for spec in manifest.sources:
            registry.add_source(spec.name, list(spec.patterns))
        reports = _ingest_all(registry, city_dir, manifest, bar)
        size = registry.ledger_size()
        task = bar.add_task("verify ledger", total=size)
        verified = verify_registry(
            registry,
            progress=lambda n: bar.advance(task, n),
            checkpoints=kept_claims(registry),
        )
        bar.update(task, completed=size)  # every entry was checked, records or not
    _print_report(console, registry, manifest, reports, verified.ok, started)
    for problem in verified.problems:
        console.print(f"[red]TAMPERED[/red] {problem}")
    examples = _score(console, settings, registry)
    _checkpoint(console, registry)
    from credence.cli.demo_serve import demo_keys, print_calls

    keys = demo_keys(registry, manifest, examples.get("person"))
    registry.close()
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    print_calls(console, settings, keys, examples.get("person"), examples.get("organisation"))
    if settings.demo_no_serve:
        console.print("CREDENCE_DEMO_NO_SERVE is set: not serving (`credence serve` serves).")
        return
    from credence.api.server import serve

    console.print("serving; stop with Ctrl-C", highlight=False)
    serve(settings)


def _checkpoint(console: Console, registry: Registry) -> None:
    """Issue a checkpoint of the latest head and say how an outsider uses it."""
    from credence.store import trust

    head = registry.latest_tree_head()
    if head is None:
        return
    note = trust.make_checkpoint(registry, head.size, head.root)
    path = trust.keep_checkpoint(registry.settings, note)
    console.print(
        f"checkpoint (C2SP signed note) of the signed tree head at size {head.size}, root "
        f"{head.root.hex()[:16]}...: {path}\n  keep a copy elsewhere; `credence verify "
        f"--checkpoint FILE --public-key {registry.settings.public_key_path}` proves the "
        "ledger still extends it",
        highlight=False,
        soft_wrap=True,
    )


def _score(console: Console, settings: Settings, registry: Registry) -> dict[str, str]:
    """Score the city under gov-default with the batch engine and print what it decided.

    Returns a listed subject of each kind (person, organisation) worth explaining.
    """
    from credence.scoring.service import (
        DEFAULT_RULEBOOK,
        Tally,
        When,
        open_rulebook,
        score_jsonl,
    )

    started = time.perf_counter()
    rulebook = open_rulebook(registry, DEFAULT_RULEBOOK)
    when = When(dt.date.today())
    out = settings.data_dir / f"scores-{rulebook.name}.jsonl"
    counts: Counter[str] = Counter()
    tally = Tally()
    with progress_bar() as bar:
        outcomes = score_jsonl(
            registry, settings, rulebook, when, out, "duckdb", stage_progress(bar), tally
        )
    for outcome in outcomes:
        add_outcome_count(counts, outcome)
    n = sum(o.subjects for o in outcomes)
    examples = _examples(out)
    console.print(summarise(counts, rulebook))
    for line in score_summary(rulebook, when, n, tally):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"scored under {rulebook.name} {rulebook.version} as of {when.as_of} in "
        f"{time.perf_counter() - started:.1f} s; one line per subject in {out}",
        highlight=False,
    )
    for subject in examples.values():
        console.print(f"  try: credence explain {subject}", highlight=False)
    return examples


def _examples(scores: Path) -> dict[str, str]:
    """A listed subject of each kind (person, organisation) worth explaining: the first line
    whose first list rests on a single record."""
    import orjson

    found: dict[str, str] = {}
    with scores.open("rb") as lines:
        for line in lines:
            a = orjson.loads(line)
            lists = a.get("lists") or []
            if lists and a["kind"] not in found and len(lists[0].get("records") or []) == 1:
                found[a["kind"]] = a["subject"]
                if len(found) == 2:
                    break
    return found


def _city(city_dir: Path, subjects: int, bar: Progress) -> CityManifest:
    if (city_dir / "manifest.json").exists():
        found = read_manifest(city_dir)
        if found.subjects == subjects and found.seed == DEMO_SEED:
            return found  # the same city: reuse it, and re-ingesting shows idempotency
    # The synthesiser's planned rows (registrations and the rest): a true total for the bar.
    total = planned_records(subjects, DEMO_RECORDS_PER_SUBJECT)
    task = bar.add_task(f"synthesise {subjects:,} subjects", total=total)
    manifest = synthesise(
        city_dir,
        subjects,
        DEMO_SEED,
        records_per_subject=DEMO_RECORDS_PER_SUBJECT,
        progress=lambda n: bar.update(task, completed=min(n, total)),
    )
    bar.update(task, completed=total)
    return manifest


def _ingest_all(
    registry: Registry, city_dir: Path, manifest: CityManifest, bar: Progress
) -> list[IngestReport]:
    task = bar.add_task("ingest", total=manifest.records)
    reports = []
    files = [(city_dir / spec.file, spec.name) for spec in manifest.sources]
    # One validation worker for every file, told the next file so that it checks it while
    # the writer appends the last batches of this one.
    with resident_worker():
        for (path, source), then in zip(files, [*files[1:], None], strict=True):
            bar.update(task, description=f"ingest {source}")
            reports.append(
                ingest_file(
                    registry, path, source, progress=lambda n: bar.advance(task, n), then=then
                )
            )
    bar.update(task, description="ingest")
    return reports


def _print_report(
    console: Console,
    registry: Registry,
    manifest: CityManifest,
    reports: list[IngestReport],
    verified: bool,
    started: float,
) -> None:
    counts = registry.counts_by_source_and_item()
    by_area: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for (source, item), n in counts.items():
        area = registry.catalogue[item].area.value if item in registry.catalogue else "revocation"
        by_area[area] += n
        by_source[source] += n
    console.rule("credence demo")
    console.print(
        f"city: {manifest.organisations:,} organisations, {manifest.people:,} people, "
        f"{manifest.records:,} submitted rows"
    )
    areas = Table("area", "records", title="records by area")
    for area, n in sorted(by_area.items()):
        areas.add_row(area, f"{n:,}")
    console.print(areas)
    table = Table("source", "rows", "accepted", "already held", "rejected", "rows/s")
    for r in reports:
        if not r.rows:
            continue  # named below the table instead of a row of zeros
        table.add_row(
            r.source,
            f"{r.rows:,}",
            f"{r.accepted:,}",
            f"{r.duplicates:,}",
            f"{r.rejected:,}",
            f"{r.rows / max(r.seconds, 1e-9):,.0f}",
        )
    console.print(table)
    silent = sorted(r.source for r in reports if not r.rows)
    if silent:
        console.print(
            f"sent nothing in this city: {', '.join(silent)} "
            "(the synthetic city has no resident registrations; see docs/identity.md)"
        )
    rows = sum(r.rows for r in reports)
    seconds = sum(r.seconds for r in reports)
    console.print(
        f"ingested {rows:,} rows in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s); "
        f"{sum(r.rejected for r in reports):,} rejected (see *.rejects.csv in "
        f"{registry.settings.data_dir / 'demo-city'}); registry holds {sum(by_source.values()):,}"
    )
    console.print("ledger verified: " + ("[green]ok[/green]" if verified else "[red]FAILED[/red]"))
