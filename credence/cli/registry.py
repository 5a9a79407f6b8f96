"""Setting a registry up: `init`, `id check`, `source add`/`list`, `catalogue check`/`docs`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from credence.cli.common import console, opened, settings, user_errors
from credence.core.ids import InvalidSubject, parse_subject
from credence.store.registry import Registry

id_app = typer.Typer(help="Check subject identifiers.", no_args_is_help=True)
source_app = typer.Typer(help="Register and list source agencies.", no_args_is_help=True)
catalogue_app = typer.Typer(help="Inspect the catalogue.", no_args_is_help=True)


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
