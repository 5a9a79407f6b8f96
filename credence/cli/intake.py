"""Getting records in: `ingest`, `synth` (a synthetic city) and `demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from credence.cli.common import console, fail, opened, progress_bar, settings, user_errors


def ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, JSONL or Parquet"),
    source: str = typer.Option(..., "--source", help="The registered source submitting FILE"),
    encoding: str = typer.Option("", "--encoding", help="FILE's text encoding (default UTF-8)"),
) -> None:
    """Validate and append records; bad rows go to FILE.rejects.csv."""
    from credence.ingest.pipeline import ingest_file

    with opened() as registry, user_errors(), progress_bar() as bar:
        task = bar.add_task(f"ingest {file.name}", total=None)
        report = ingest_file(
            registry,
            file,
            source,
            progress=lambda n: bar.advance(task, n),
            encoding=encoding or None,
        )
    typer.echo(
        f"{report.rows} rows: {report.accepted} accepted, {report.duplicates} already held, "
        f"{report.rejected} rejected; ledger size {report.tree_size}; "
        f"{report.rows / max(report.seconds, 1e-9):,.0f} rows/s"
    )
    if report.rejects_file:
        typer.echo(f"rejects: {report.rejects_file}")


def synth(
    subjects: int = typer.Option(1000, "--subjects", min=10, help="Organisations and people"),
    seed: int = typer.Option(1, "--seed", help="Same seed, same city"),
    out: Path = typer.Option(..., "--out", file_okay=False, help="Output directory"),
    fmt: str = typer.Option("parquet", "--format", help="parquet, csv or jsonl"),
    records_per_subject: float = typer.Option(20.0, "--records-per-subject", min=0.1),
) -> None:
    """Write a deterministic synthetic city that `credence ingest` reads."""
    from credence.synth.city import synthesise

    if fmt not in ("parquet", "csv", "jsonl"):
        fail(f"--format must be parquet, csv or jsonl, not {fmt!r}")
    with progress_bar() as bar:
        task = bar.add_task("synthesise", total=None)
        manifest = synthesise(
            out,
            subjects,
            seed,
            records_per_subject=records_per_subject,
            fmt=fmt,
            progress=lambda n: bar.update(task, completed=n),
        )
    console.print(
        f"{manifest.organisations} organisations, {manifest.people} people, "
        f"{manifest.records} records in {len(manifest.sources)} source files under {out}"
    )


def demo() -> None:
    """Build a synthetic city, ingest and verify it, and report (what `make demo` runs)."""
    from credence.cli.demo import run_demo

    with user_errors():
        run_demo(settings(), console)
