"""`credence rulebook`: check a rulebook, list the presets and published ones, publish one."""

from __future__ import annotations

import typer

from credence.cli.common import RULEBOOK_HELP, console, opened, settings, user_errors
from credence.core.rulebook import load_rulebook, preset_names, resolve_rulebook_path
from credence.service.rulebooks import publish, published
from credence.store.registry import Registry

rulebook_app = typer.Typer(help="Validate, list and publish rulebooks.", no_args_is_help=True)


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
    """The preset rulebooks shipped with credence, then those published and which is live."""
    with user_errors():
        cfg = settings()
        catalogue = Registry.load_catalogue(cfg)
        for name in preset_names():
            rb = load_rulebook(resolve_rulebook_path(name), catalogue)
            console.print(f"{name:14} {rb.version:8} {rb.spec.title}", highlight=False)
    if not cfg.signing_key_path.exists():  # no registry: nothing published, nothing to open
        console.print("\npublished: none (no registry here; gov-default is live by default)")
        return
    with opened() as registry, user_errors():
        books = published(registry)
    console.print("\npublished (the latest is live):", highlight=False)
    for book in books:
        at = f"#{book.seq} {book.published_at}" if book.seq is not None else "(by default)"
        state = "live" if book.live else ""
        console.print(
            f"{book.name:14} sha256:{book.sha256}  {at}  {state}".rstrip(),
            highlight=False,
            soft_wrap=True,
        )


@rulebook_app.command("publish")
def rulebook_publish(
    name_or_file: str = typer.Argument(..., metavar="NAME_OR_FILE", help=RULEBOOK_HELP),
) -> None:
    """Validate a rulebook and make it the live one (a `rulebook` ledger entry)."""
    with opened() as registry, user_errors():
        book = publish(registry, name_or_file)
    what = "is already live: nothing published" if book.already_live else "published: live now"
    console.print(
        f"{book.name} {what}\nsha256:{book.sha256}\nledger entry #{book.seq}",
        highlight=False,
        soft_wrap=True,
    )
