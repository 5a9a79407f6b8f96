"""Printing a policy simulation as tables a reviewer can read."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from credence.core.rulebook import Rulebook
from credence.core.simulate import NONE, Simulation

_PLURAL = {"person": "people", "organisation": "organisations"}


def _grades(rb: Rulebook) -> list[str]:
    return [g.grade for g in rb.score.grades] if rb.score else []


def _matrix(kind: str, sim: Simulation, current: Rulebook, proposed: Rulebook) -> Table:
    rows = [*_grades(current), NONE]
    cols = [*_grades(proposed), NONE]
    table = Table(
        title=f"grade transitions: {_PLURAL.get(kind, kind)} "
        f"(rows {current.name}, columns {proposed.name})",
        title_justify="left",
    )
    table.add_column("from \\ to")
    for col in cols:
        table.add_column(col, justify="right")
    for row in rows:
        cells = [sim.transitions.get((kind, row, col), 0) for col in cols]
        if any(cells):
            table.add_row(row, *(f"{c:,}" if c else "." for c in cells))
    return table


def _by_name(title: str, counts: Counter[tuple[str, str, str]], top: int) -> Table | None:
    if not counts:
        return None
    table = Table(title=title, title_justify="left")
    for col in ("name", "kind", "subjects", "top regions"):
        table.add_column(col, justify="right" if col == "subjects" else "left")
    totals: Counter[tuple[str, str]] = Counter()
    regions: dict[tuple[str, str], Counter[str]] = {}
    for (name, kind, region), n in counts.items():
        totals[(name, kind)] += n
        regions.setdefault((name, kind), Counter())[region] += n
    for (name, kind), n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        best = ", ".join(f"{r} {c:,}" for r, c in regions[(name, kind)].most_common(top))
        table.add_row(name, kind, f"{n:,}", best)
    return table


def print_simulation(
    console: Console, current: Rulebook, proposed: Rulebook, sim: Simulation, top: int
) -> None:
    console.print(
        f"[bold]simulation[/bold]: {proposed.name} {proposed.version} against "
        f"{current.name} {current.version}",
        highlight=False,
    )
    head = sim.ledger or {}
    cat = proposed.catalogue
    console.print(
        f"rulebooks {proposed.content_hash} and {current.content_hash}; catalogue {cat.name} "
        f"{cat.version} ({cat.content_hash}); ledger head size {head.get('size')}, "
        f"root {head.get('root')}",
        highlight=False,
        soft_wrap=True,
    )
    for kind, n in sorted(sim.subjects.items()):
        console.print(
            f"{_PLURAL.get(kind, kind)} assessed: {n:,}; outcome changes for {sim.changed[kind]:,}"
        )
        console.print(_matrix(kind, sim, current, proposed))
    for title, counts in (
        ("lists entered", sim.lists_entered),
        ("lists left", sim.lists_left),
        ("measures gained", sim.measures_gained),
        ("measures lost", sim.measures_lost),
    ):
        table = _by_name(title, counts, top)
        if table is not None:
            console.print(table)
        else:
            console.print(f"{title}: none")
