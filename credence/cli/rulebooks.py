"""`credence rulebook`: check a rulebook, list the presets and published ones, publish one."""

from __future__ import annotations

import typer

from credence.cli.common import RULEBOOK_HELP, console, settings, user_errors
from credence.core.rulebook import load_rulebook, preset_names, resolve_rulebook_path
from credence.store.registry import Registry

rulebook_app = typer.Typer(help="Validate and list rulebooks.", no_args_is_help=True)


@rulebook_app.command("check")
def rulebook_check(
    file: str = typer.Argument(..., help=RULEBOOK_HELP),
) -> None:
    """Validate a rulebook against the catalogue, without loading it anywhere."""
    with user_errors():
        catalogue = Registry.load_catalogue(settings())
        rb = load_rulebook(resolve_rulebook_path(file), catalogue)
    score = (
        f"score {rb.score.min}-{rb.score.max} (base {rb.score.base}) on "
        + ", ".join(k.value for k in rb.score.subjects)
        + f", {len(rb.item_rules)} items scored"
        if rb.score
        else "no score"
    )
    console.print(
        f"ok: {rb.name} {rb.version}: {score}; {len(rb.lists)} lists, "
        f"{len(rb.measures)} measures\ncontent hash {rb.content_hash}",
        highlight=False,
        soft_wrap=True,
    )


@rulebook_app.command("list")
def rulebook_list() -> None:
    """The preset rulebooks shipped with credence."""
    with user_errors():
        catalogue = Registry.load_catalogue(settings())
        for name in preset_names():
            rb = load_rulebook(resolve_rulebook_path(name), catalogue)
            console.print(f"{name:14} {rb.version:8} {rb.spec.title}", highlight=False)
