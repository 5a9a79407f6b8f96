"""Scoring commands: `score`, `explain` and `simulate`."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from credence.cli.common import (
    RULEBOOK_HELP,
    RULEBOOK_LIVE_HELP,
    console,
    err,
    fail,
    opened,
    progress_bar,
    settings,
    user_errors,
)
from credence.core.assessment import Assessment
from credence.core.rulebook import Rulebook

if TYPE_CHECKING:
    from credence.core.explain import RecordFacts
    from credence.engines.batch_json import OutcomeCount
    from credence.scoring.service import Tally, When
    from credence.store.registry import Registry

AS_OF_HELP = "Day ages, publicity and list durations are measured on (default: today)"
UNVERIFIED_HELP = (
    "Go on when the registry fails its integrity checks (with a warning); "
    "without it such a registry is refused"
)
ENGINE_HELP = "sql (the store), duckdb (batch) or spark (PySpark, CREDENCE_SPARK_MASTER)"
FORMAT_HELP = "jsonl (default) or parquet (a directory; spark only); default: by --out's suffix"
SNAPSHOT_HELP = (
    "Score an export made by `credence export --format parquet DIR` (spark only; "
    "no registry needed, e.g. on a cluster)"
)
KNOWN_AT_HELP = "Only records the ledger had signed by the end of this day: replays a past result"


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date YYYY-MM-DD, not {value!r}")


def _when(as_of: str | None, known_at: str | None) -> When:
    from credence.scoring.service import When

    day = _day(as_of, "--as-of") or dt.date.today()
    known = _day(known_at, "--known-at")
    return When(day, known)


def summarise(assessments: list[Assessment] | Counter[str], rulebook: Rulebook) -> Table:
    """Counts per grade, list and measure, as a Rich table."""
    counts = assessments if isinstance(assessments, Counter) else count_outcomes(assessments)
    table = Table(title=f"{rulebook.name} {rulebook.version}", title_justify="left")
    table.add_column("outcome")
    table.add_column("subjects", justify="right")
    for key, n in sorted(counts.items(), key=lambda kv: _order(rulebook, kv[0])):
        table.add_row(key, f"{n:,}")
    return table


def count_outcomes(assessments: list[Assessment]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for a in assessments:
        add_outcome(counts, a)
    return counts


def add_outcome(counts: Counter[str], a: Assessment) -> None:
    plural = "people" if a.kind.value == "person" else "organisations"
    counts[f"grade {a.grade}" if a.grade else f"{plural} not graded"] += 1
    for listing in a.lists:
        counts[f"{listing.colour} list {listing.list}"] += 1
    for measure in a.measures:
        counts[f"measure {measure}"] += 1


def add_outcome_count(counts: Counter[str], o: OutcomeCount) -> None:
    """`add_outcome` for `o.subjects` subjects sharing one outcome at once."""
    plural = "people" if o.kind.value == "person" else "organisations"
    counts[f"grade {o.grade}" if o.grade else f"{plural} not graded"] += o.subjects
    for name, colour in o.lists:
        counts[f"{colour} list {name}"] += o.subjects
    for measure in o.measures:
        counts[f"measure {measure}"] += o.subjects


def _record_facts(registry: Registry, a: Assessment) -> dict[int, RecordFacts]:
    """The listing records' dates and attributes, for what would end each listing."""
    from credence.core.explain import RecordFacts

    seqs = [s for lst in a.lists for s in lst.records]
    return {
        r.seq: RecordFacts(
            r.seq, r.item, r.decided_on or r.occurred_on, json.loads(r.attributes or "{}")
        )
        for r in registry.records_by_seq(seqs)
    }


def stage_progress(bar: Progress) -> Callable[[str, int, int], None]:
    """A progress callback that gives each stage (snapshot, score) its own bar."""
    tasks: dict[str, TaskID] = {}

    def tick(stage: str, done: int, total: int) -> None:
        # A stage announces itself with total -1 when it starts, before its total is
        # known, so that its clock runs from its start; later ticks give the total.
        known = None if total < 0 else total
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=known)
        bar.update(tasks[stage], completed=done, total=known)

    return tick


def _order(rulebook: Rulebook, key: str) -> tuple[int, int, str]:
    grades = [g.grade for g in rulebook.score.grades] if rulebook.score else []
    if key.startswith("grade "):
        return (0, grades.index(key[6:]) if key[6:] in grades else 99, key)
    if "not graded" in key:
        return (1, 0, key)
    if " list " in key:
        return (2, 0, key)
    return (3, 0, key)


def score_summary(rb: Rulebook, when: When, assessed: int, tally: Tally) -> list[str]:
    """What a score run covered, and who it left out and why: no count hides a subject."""
    left = tally.subjects_held - assessed
    head = tally.ledger or {}
    cat = rb.catalogue
    return [
        f"{assessed:,} subjects assessed under {rb.name} {rb.version} "
        f"({rb.content_hash[:19]}...) as of {when.as_of}",
        f"{left:,} of the {tally.subjects_held:,} subjects held were left out, having no "
        f"record counting under {rb.name} on {when.as_of} (all dated later, withdrawn or "
        "corrected, or of a kind it does not assess): not graded",
        f"ledger head size {head.get('size')}, root {head.get('root')}; "
        f"catalogue {cat.name} {cat.version} ({cat.content_hash[:19]}...)",
    ]


def integrity_gate(registry: Registry, unverified: bool) -> None:
    """Refuse to score a registry that fails the cheap checks, or warn loudly if told to go on."""
    from credence.scoring.service import integrity_problems

    problems = integrity_problems(registry)
    if not problems:
        return
    if not unverified:
        fail(
            "the registry fails its integrity checks: "
            + "; ".join(problems)
            + " (run `credence verify`; --unverified goes on regardless)"
        )
    for problem in problems:
        err.print(
            f"[bold red]WARNING: UNVERIFIED REGISTRY[/bold red] {problem}",
            highlight=False,
            soft_wrap=True,
        )


def _output_format(fmt: str | None, out: Path | None, engine: str) -> str:
    """jsonl or parquet: as told, else by --out's suffix; Parquet only from Spark, to a path."""
    chosen = fmt or ("parquet" if out and out.suffix == ".parquet" else "jsonl")
    if chosen not in ("jsonl", "parquet"):
        fail(f"--format must be jsonl or parquet, not {chosen!r}")
    if chosen == "parquet" and (engine != "spark" or out is None):
        fail("--format parquet needs --engine spark and --out DIR")
    return chosen


def score(
    rulebook: str | None = typer.Option(None, "--rulebook", help=RULEBOOK_LIVE_HELP),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    known_at: str | None = typer.Option(None, "--known-at", help=KNOWN_AT_HELP),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    out: Path | None = typer.Option(None, "--out", help="Write JSONL here (default: stdout)"),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    snapshot: Path | None = typer.Option(None, "--snapshot", help=SNAPSHOT_HELP),
    unverified: bool = typer.Option(False, "--unverified", help=UNVERIFIED_HELP),
) -> None:
    """Assess every subject: one JSON line each (score, grade, lists, measures, reasons)."""
    from credence.scoring.service import ENGINES, Tally, open_rulebook, score_jsonl, score_spark

    if engine not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    chosen = _output_format(fmt, out, engine)
    when = _when(as_of, known_at)
    if engine == "spark":
        _need_pyspark()
    if snapshot is not None:
        _score_export(snapshot, rulebook, when, out, chosen, engine)
        return
    counts: Counter[str] = Counter()
    tally = Tally()
    with opened() as registry, user_errors():
        integrity_gate(registry, unverified)
        rb = open_rulebook(registry, rulebook)
        with progress_bar(console if out else err) as bar:
            if engine == "spark":
                outcomes = score_spark(
                    registry, settings(), rb, when, out, chosen, stage_progress(bar), tally
                )
            else:
                outcomes = score_jsonl(
                    registry, settings(), rb, when, out, engine, stage_progress(bar), tally
                )
        n = sum(o.subjects for o in outcomes)
        for outcome in outcomes:
            add_outcome_count(counts, outcome)
    report = console if out else err
    report.print(summarise(counts, rb))
    for line in score_summary(rb, when, n, tally):
        report.print(line, highlight=False, markup=False, soft_wrap=True)
    if out:
        report.print(f"written to {out}", highlight=False, soft_wrap=True)


def _need_pyspark() -> None:
    from credence.engines.spark_session import MISSING, spark_available

    if not spark_available():
        fail(MISSING)


def _score_export(
    path: Path, rulebook: str | None, when: When, out: Path | None, fmt: str, engine: str
) -> None:
    """`score --snapshot DIR`: Spark over an export, with no registry (a cluster's driver)."""
    from credence.core.rulebook import load_rulebook, resolve_rulebook_path
    from credence.engines.spark_snapshot import read_export
    from credence.scoring.service import Tally, score_spark_input
    from credence.store.registry import Registry

    if engine != "spark":
        fail("--snapshot needs --engine spark")
    if when.known_at is not None:
        fail("--known-at needs the registry's tree heads: replay with the registry, not --snapshot")
    config = settings()
    tally = Tally()
    with user_errors():
        # no registry here, so no live rulebook: a preset or file, gov-default if none given
        name = rulebook or "gov-default"
        rb = load_rulebook(resolve_rulebook_path(name), Registry.load_catalogue(config))
        source = read_export(path)
        outcomes = score_spark_input(config, source, rb, when.as_of, None, out, fmt, tally)
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        add_outcome_count(counts, outcome)
    report = console if out else err
    report.print(summarise(counts, rb))
    for line in score_summary(rb, when, sum(o.subjects for o in outcomes), tally):
        report.print(line, highlight=False, markup=False, soft_wrap=True)
    if out:
        report.print(f"written to {out}", highlight=False, soft_wrap=True)


def explain(
    subject: str = typer.Argument(..., help="Subject key, e.g. ric:110... or uscc:91..."),
    rulebook: str | None = typer.Option(None, "--rulebook", help=RULEBOOK_LIVE_HELP),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    known_at: str | None = typer.Option(None, "--known-at", help=KNOWN_AT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the assessment as JSON"),
    unverified: bool = typer.Option(False, "--unverified", help=UNVERIFIED_HELP),
) -> None:
    """One subject's assessment, why, and what would change it."""
    from credence.core.explain import explain_dict, explain_lines, provenance_line
    from credence.core.ids import parse_subject
    from credence.scoring.service import assess_one, open_rulebook, records_held

    when = _when(as_of, known_at)
    with opened() as registry, user_errors():
        integrity_gate(registry, unverified)
        key = parse_subject(subject)
        rb = open_rulebook(registry, rulebook)
        a = assess_one(registry, rb, f"{key.scheme}:{key.ident}", when)
        held = records_held(registry, a.subject, when)
        facts = _record_facts(registry, a)
    if as_json:
        typer.echo(json.dumps(explain_dict(a, held), ensure_ascii=False, indent=2))
        return
    for title, lines in explain_lines(rb, a, facts, held).items():
        if not lines and title != "outcome":
            continue
        if title != "outcome":
            console.print(f"\n[bold]{title}[/bold]")
        for line in lines:
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        "\n" + provenance_line(a), highlight=False, markup=False, style="dim", soft_wrap=True
    )


def simulate(
    rulebook: str = typer.Option(..., "--rulebook", help="The proposed rulebook: " + RULEBOOK_HELP),
    against: str | None = typer.Option(
        None, "--against", help="The current rulebook (default: the live one): " + RULEBOOK_HELP
    ),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    engine: str = typer.Option("duckdb", "--engine", help="sql (the store) or duckdb (batch)"),
    top: int = typer.Option(10, "--top", min=1, help="Rows per region table"),
) -> None:
    """What a rule change would do: grades, lists and measures, by kind and region."""
    from credence.cli.simulate_report import print_simulation
    from credence.scoring.service import open_rulebook
    from credence.scoring.service import simulate as run

    if engine not in ("sql", "duckdb"):
        fail(f"--engine must be sql or duckdb for simulate, not {engine!r}")
    when = _when(as_of, None)
    with opened() as registry, user_errors():
        current = open_rulebook(registry, against)
        proposed = open_rulebook(registry, rulebook)
        with progress_bar() as bar:
            task = bar.add_task("simulate", total=None)
            result = run(
                registry,
                settings(),
                current,
                proposed,
                when,
                engine,
                lambda _s, done, total: bar.update(task, completed=done, total=total),
            )
    print_simulation(console, current, proposed, result, top)


# What `credence.cli.main` attaches to the root command, in this order.
COMMANDS = (score, explain, simulate)
