"""The `credence` command line (Typer). Commands stay thin: they call services."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from credence.cli.boundary import BoundaryGroup
from credence.cli.failures import USER_ERRORS, redact
from credence.cli.witness import witness_app
from credence.core.ids import InvalidSubject, parse_subject
from credence.settings import Settings, SettingsError, load_settings
from credence.store.registry import Registry

app = typer.Typer(
    help="credence: an open, accountable social credit registry.",
    no_args_is_help=True,
    add_completion=False,
    epilog=(
        "Exit codes: 0 ok; 1 verify found tampering or an identifier is invalid; "
        "2 something to fix (file, setting, argument, busy registry); "
        "3 internal error (run with --debug); 130 interrupted."
    ),
    cls=BoundaryGroup,  # every command runs inside the error boundary
    pretty_exceptions_enable=False,  # Rich tracebacks print locals: records and keys
    pretty_exceptions_show_locals=False,
)
id_app = typer.Typer(help="Check subject identifiers.", no_args_is_help=True)
source_app = typer.Typer(help="Register and list source agencies.", no_args_is_help=True)
app.add_typer(id_app, name="id")
catalogue_app = typer.Typer(help="Inspect the catalogue.", no_args_is_help=True)
rulebook_app = typer.Typer(help="Validate and list rulebooks.", no_args_is_help=True)
app.add_typer(rulebook_app, name="rulebook")
app.add_typer(source_app, name="source")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(witness_app, name="witness")

# Everything credence writes (databases, snapshots, keys, checkpoints) is private by default.
os.umask(0o077)

console = Console()
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def root(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar="CREDENCE_DEBUG",
        help="On failure, also print the traceback (values stay masked).",
    ),
) -> None:
    """Global options; `--debug` is read by the error boundary (credence.cli.boundary)."""


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn known domain errors into a one-line message and exit status 2."""
    try:
        yield
    except USER_ERRORS as exc:
        fail(redact(str(exc)))


@contextmanager
def opened() -> Iterator[Registry]:
    with user_errors():
        registry = Registry.open(settings())
        try:
            yield registry
        finally:
            registry.close()


def progress_bar(on: Console | None = None) -> Progress:
    """A Rich progress bar (on stdout unless `on` says otherwise, e.g. stderr)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=on or console,
        transient=False,
    )


@app.command()
def init() -> None:
    """Create the registry (store, signing key, subject-hash key) in CREDENCE_DATA_DIR."""
    with user_errors():
        cfg = settings()
        from credence.store import trust

        registry, created = Registry.init(cfg)
        head = registry.latest_tree_head()
        log_key = trust.own_log_key(registry)
        vkey_path = cfg.public_key_path
        vkey = log_key.verifier.vkey()
        registry.close()
    state = "created" if created else "already initialised"
    console.print(f"registry {state} at {cfg.data_dir} ({cfg.database_url})", highlight=False)
    if head is not None:
        console.print(f"ledger size {head.size}, root {head.root.hex()}", highlight=False)
    console.print(
        f"log public key (give it to auditors and witnesses): {vkey_path}\n  {vkey}",
        highlight=False,
        soft_wrap=True,
    )


@id_app.command("check")
def id_check(
    keys: list[str] = typer.Argument(..., help="Subject keys, e.g. uscc:91... ric:11..."),
) -> None:
    """Print each key's canonical form, or why it is invalid (exit 1 if any is)."""
    bad = 0
    for key in keys:
        try:
            typer.echo(f"{key}\tok\t{parse_subject(key)}")
        except InvalidSubject as exc:
            bad += 1
            typer.echo(f"{key}\tinvalid\t{exc}")
    if bad:
        raise typer.Exit(1)


@source_app.command("add")
def source_add(
    name: str = typer.Argument(..., help="Source name: lower-case letters, digits and -"),
    items: list[str] = typer.Option(
        ..., "--items", help="Catalogue item globs, e.g. --items 'judicial.*' 'social.*'"
    ),
    more: list[str] = typer.Argument(None, hidden=True, metavar="PATTERN"),
) -> None:
    """Register a source and the catalogue items it may submit (replaces earlier patterns)."""
    with opened() as registry, user_errors():
        source, created = registry.add_source(name, [*items, *(more or [])])
    verb = "registered" if created else "updated"
    typer.echo(f"{verb} source {source.name}: {len(source.items)} items")
    for code in sorted(source.items):
        typer.echo(f"  {code}")


@source_app.command("list")
def source_list() -> None:
    """List sources and the items each may submit."""
    with opened() as registry:
        for source in registry.sources():
            typer.echo(f"{source.name}\t{' '.join(source.patterns)}\t{len(source.items)} items")


@catalogue_app.command("check")
def catalogue_check(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Validate a catalogue YAML file (prohibited categories, legal basis, publicity)."""
    from credence.core.catalogue import load_catalogue

    with user_errors():
        catalogue = load_catalogue(file)
    console.print(f"ok: {len(catalogue)} items in catalogue {catalogue.name} {catalogue.version}")


@catalogue_app.command("docs")
def catalogue_docs() -> None:
    """Print the configured catalogue as Markdown (docs/catalogue.md is this output)."""
    from credence.core.catalogue_docs import catalogue_markdown

    with user_errors():
        catalogue = Registry.load_catalogue(settings())
    sys.stdout.write(catalogue_markdown(catalogue))


@app.command()
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


@app.command()
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


from credence.cli import ledger as _ledger  # noqa: E402  (registers ledger commands)
from credence.cli import scoring as _scoring  # noqa: E402  (registers score commands)

_ledger.register(app)
_scoring.register(app, rulebook_app)


@app.command()
def demo() -> None:
    """Build a synthetic city, ingest and verify it, and report (what `make demo` runs)."""
    from credence.cli.demo import run_demo

    with user_errors():
        run_demo(settings(), console)


def main() -> None:  # pragma: no cover - console entry point
    """The `credence` console script: the app, its exit status passed to the shell."""
    sys.exit(app())
