"""One table for `make bench`: each figure beside the floor it is measured against.

Every benchmark script measures its figures *and* their floors in the same
run, on the same data, and hands them to `add()`. They accumulate in one run
file (`CREDENCE_BENCH_RUN`, default benchmarks/out/run.jsonl, emptied by
`make bench` before the first script), and `python benchmarks/table.py
--record` prints the table (figure, value, floor, ratio, target, met) and
appends it to benchmarks/RESULTS.md with the machine and date.

A figure's target takes one of these shapes:
- `ratio_at_least=0.8`: value / floor must be at least 0.8 (throughputs);
- `ratio_at_most=2.0`: value / floor must be at most 2.0 (times);
- `at_least=` / `at_most=`: an absolute bound on the value itself; `at_most` is a
  strict "under" (peak memory under 4 GB, p99 under 10 ms), printed `<`;
- `no_more_than=`: "at most", inclusive, printed `<=`: for a count that must stay at a
  bound it can equal (no wrong links: `no_more_than=0`; `at_most=0` could never be met).
A figure may carry several (ingest: 0.8x its floor and 100,000 rows/s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from measure import machine

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT_RUN = Path(__file__).with_name("out") / "run.jsonl"


def run_file() -> Path:
    return Path(os.environ.get("CREDENCE_BENCH_RUN", str(DEFAULT_RUN)))


@dataclass(frozen=True)
class Figure:
    """One measured figure, its floor (same run, same data) and its target."""

    name: str  # what was measured, exactly: "ingest 1,002,092 rows from Parquet, SQLite"
    value: float
    unit: str  # "rows/s", "leaves/s", "s", "ms", "MiB"
    floor: float | None = None
    floor_name: str = ""  # what the floor is: "executemany of the same rows, same indexes"
    ratio_at_least: float | None = None
    ratio_at_most: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    no_more_than: float | None = None
    note: str = ""  # data, sizes, anything a reader needs to read the figure right

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    @property
    def target(self) -> str:
        parts = []
        if self.ratio_at_least is not None:
            parts.append(f">= {self.ratio_at_least:g}x floor")
        if self.ratio_at_most is not None:
            parts.append(f"<= {self.ratio_at_most:g}x floor")
        if self.at_least is not None:
            parts.append(f">= {_num(self.at_least)} {self.unit}")
        if self.at_most is not None:
            parts.append(f"< {_num(self.at_most)} {self.unit}")
        if self.no_more_than is not None:
            parts.append(f"<= {_num(self.no_more_than)} {self.unit}")
        return "; ".join(parts) or "-"

    @property
    def met(self) -> bool | None:
        checks: list[bool] = []
        ratio = self.ratio
        if self.ratio_at_least is not None:
            checks.append(ratio is not None and ratio >= self.ratio_at_least)
        if self.ratio_at_most is not None:
            checks.append(ratio is not None and ratio <= self.ratio_at_most)
        if self.at_least is not None:
            checks.append(self.value >= self.at_least)
        if self.at_most is not None:
            checks.append(self.value < self.at_most)
        if self.no_more_than is not None:
            checks.append(self.value <= self.no_more_than)
        return all(checks) if checks else None


def add(*figures: Figure) -> None:
    """Append figures to this run's file (benchmarks call this as they finish)."""
    path = run_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure)) + "\n")


def load(path: Path | None = None) -> list[Figure]:
    path = path or run_file()
    if not path.exists():
        return []
    return [Figure(**json.loads(line)) for line in path.read_text().splitlines() if line]


def _num(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _met(figure: Figure) -> str:
    met = figure.met
    return "-" if met is None else ("yes" if met else "**no**")


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| figure | value | floor | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        floor = f"{_num(f.floor)} {f.unit} ({f.floor_name})" if f.floor is not None else "-"
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        lines.append(
            f"| {f.name} | {_num(f.value)} {f.unit} | {floor} | {ratio} | {f.target} | {_met(f)} |"
        )
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def print_table(figures: list[Figure]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="make bench: each figure beside its floor, measured in the same run")
    for column in ("figure", "value", "floor", "ratio", "target", "met"):
        table.add_column(column, overflow="fold")
    for f in figures:
        met = f.met
        table.add_row(
            f.name,
            f"{_num(f.value)} {f.unit}",
            f"{_num(f.floor)} {f.unit}\n{f.floor_name}" if f.floor is not None else "-",
            f"{f.ratio:.2f}x" if f.ratio is not None else "-",
            f.target,
            "-" if met is None else ("[green]yes[/]" if met else "[red]no[/]"),
        )
    Console().print(table)


def record(figures: list[Figure], extra: str = "") -> None:
    """Append the table to RESULTS.md under today's date and this machine."""
    load_avg = os.getloadavg()[0]
    heading = f"\n## make bench ({dt.date.today().isoformat()})\n\n"
    body = (
        f"- machine: {machine(extra)}; load average {load_avg:.2f} at the end\n"
        "- every floor was measured by the benchmark itself, in the same run, on the same "
        "data (see each script's docstring for exactly what)\n\n"
    )
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(heading + body + markdown(figures) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    parser.add_argument("--run", type=Path, default=None, help="the run file to read")
    args = parser.parse_args()
    figures = load(args.run)
    if not figures:
        raise SystemExit(f"no figures in {args.run or run_file()}: run the benchmarks first")
    print_table(figures)
    if args.record:
        record(figures)
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
