"""`credence identity`: resolve records that came without a valid ID (credence.identity)."""

from __future__ import annotations

import time

import typer

from credence.cli.common import fail, opened, settings

identity_app = typer.Typer(
    help="Link records without a valid ID to subjects (probabilistic matches).",
    no_args_is_help=True,
)


@identity_app.command("resolve")
def identity_resolve(
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="where Splink scores the pairs: duckdb (in process) or spark "
        "(CREDENCE_SPARK_MASTER, default local[*]; needs credence[spark])",
    ),
) -> None:
    """Match every unmatched record; links become pending matches for an auditor's review.

    A pending match counts for nothing until an auditor confirms it
    (POST /v1/matches/{id}/confirm); see docs/identity.md.
    """
    from credence.identity.model import ENGINES
    from credence.service.matches import resolve
    from credence.service.state import Service

    if engine not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "spark":
        from credence.identity.spark import MISSING, spark_available

        if not spark_available():
            fail(MISSING)

    with opened() as registry:
        service = Service(registry, settings())
        try:
            start = time.perf_counter()
            counts = resolve(service, engine)
            took = time.perf_counter() - start
        finally:
            service.close()
    typer.echo(
        f"considered {counts['considered']:,} record(s), compared {counts['pairs']:,} "
        f"candidate pair(s) in {took:.1f} s: {counts['matched']:,} pending match(es) for "
        f"review, {counts['ambiguous']:,} ambiguous (left unmatched)"
    )
