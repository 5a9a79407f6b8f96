"""`credence identity`: resolve records that came without a valid ID (credence.identity)."""

from __future__ import annotations

import time

import typer

from credence.cli.common import opened, settings

identity_app = typer.Typer(
    help="Link records without a valid ID to subjects (probabilistic matches).",
    no_args_is_help=True,
)


@identity_app.command("resolve")
def identity_resolve() -> None:
    """Match every unmatched record; links become pending matches for an auditor's review.

    A pending match counts for nothing until an auditor confirms it
    (POST /v1/matches/{id}/confirm); see docs/identity.md.
    """
    from credence.service.matches import resolve
    from credence.service.state import Service

    with opened() as registry:
        service = Service(registry, settings())
        try:
            start = time.perf_counter()
            counts = resolve(service)
            took = time.perf_counter() - start
        finally:
            service.close()
    typer.echo(
        f"considered {counts['considered']:,} record(s), compared {counts['pairs']:,} "
        f"candidate pair(s) in {took:.1f} s: {counts['matched']:,} pending match(es) for "
        f"review, {counts['ambiguous']:,} ambiguous (left unmatched)"
    )
