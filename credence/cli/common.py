"""What every CLI module shares: the consoles, settings, the registry and error helpers.

Kept apart from `credence.cli.main`, which only assembles the commands, so
that command modules import their helpers without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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

from credence.cli.failures import USER_ERRORS, redact
from credence.settings import Settings, SettingsError, load_settings
from credence.store.registry import Registry

RULEBOOK_HELP = "Preset name (gov-default, sesame-style, suining-2010) or a rulebook YAML file"
RULEBOOK_LIVE_HELP = (
    RULEBOOK_HELP + " (default: the live rulebook, the latest published, else gov-default;"
    " with --snapshot, gov-default)"
)

console = Console()
err = Console(stderr=True, soft_wrap=True)


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
