"""`credence key`: issue, list and revoke the parties' API keys (credence.service.keys)."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from credence.cli.common import console, opened, user_errors
from credence.service.keys import Party, issue_key, list_keys, revoke_key

key_app = typer.Typer(help="Issue, list and revoke parties' API keys.", no_args_is_help=True)


@key_app.command("issue")
def key_issue(
    role: str = typer.Argument(..., help="source, relying-party, subject, auditor or admin"),
    name: str = typer.Argument(..., help="The party: lower-case letters, digits and -"),
    purposes: list[str] = typer.Option(
        [], "--purposes", help="Relying parties: what they check for, e.g. flight-booking"
    ),
    more: list[str] = typer.Argument(None, hidden=True, metavar="PURPOSE"),
    subject: str | None = typer.Option(None, "--subject", help="Subject keys: whose, e.g. ric:..."),
    source: str | None = typer.Option(None, "--source", help="Source keys: the registered source"),
) -> None:
    """Issue a key; its last line of output is the key alone, shown this once."""
    with opened() as registry, user_errors():
        key, party = issue_key(registry, role, name, [*purposes, *(more or [])], subject, source)
    bound = f" ({_bound(party)})" if _bound(party) else ""
    typer.echo(f"issued {party.role} key #{party.id} ({party.prefix}) to {party.name}{bound}")
    typer.echo("keep it now: only its hash is stored, it cannot be shown again")
    typer.echo(key)


@key_app.command("list")
def key_list() -> None:
    """Every key issued: id, prefix, role, party, what for, when issued and revoked."""
    with opened() as registry:
        parties = list_keys(registry)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "prefix", "role", "name", "for", "created", "revoked"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "prefix"))
    for p in parties:
        table.add_row(
            str(p.id), p.prefix, p.role, p.name, _bound(p, "\n"), _minute(p.created_at),
            _minute(p.revoked_at),
        )  # fmt: skip
    console.print(table, highlight=False)


@key_app.command("revoke")
def key_revoke(
    key: str = typer.Argument(..., metavar="PREFIX_OR_ID", help="The key's prefix or id"),
) -> None:
    """Revoke a key: the service refuses it within a second; a ledger entry says so."""
    with opened() as registry, user_errors():
        party = revoke_key(registry, key)
    typer.echo(
        f"revoked {party.role} key #{party.id} ({party.prefix}) of {party.name} "
        f"at {party.revoked_at}"
    )


def _bound(party: Party, sep: str = ", ") -> str:
    """What a key is bound to, never a subject's ID (lists and terminals are not private)."""
    if party.purposes:
        return "purposes:" + sep.lstrip(",") + sep.join(sorted(party.purposes))
    if party.source:
        return f"source: {party.source}"
    return "subject" if party.subject else ""


def _minute(stamp: str | None) -> str:
    """`2026-11-27T09:20:07+00:00` as `2026-11-27 09:20` (UTC): room for the rest."""
    return stamp[:16].replace("T", " ") if stamp else ""
