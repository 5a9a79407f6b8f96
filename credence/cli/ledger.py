"""Ledger commands: `verify`, `checkpoint`, `proof`, `erase` and `migrate`."""

from __future__ import annotations

from pathlib import Path

import typer

from credence.cli.common import console, fail, opened, progress_bar, settings, user_errors

RULES = "[red]TAMPERED[/red]"

proof_app = typer.Typer(help="Print inclusion and consistency proofs.", no_args_is_help=True)


def verify(
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint", help="A checkpoint kept earlier: the ledger must extend it"
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="The log's public key (vkey or PEM) to check heads against"
    ),
    witness: list[str] = typer.Option(
        [],
        "--witness",
        help="A witness vkey (or file): the latest head must carry its cosignature",
    ),
) -> None:
    """Recompute every entry and root, check every head and checkpoint (exit 1 on tampering)."""
    from credence.store import trust
    from credence.store.verify import verify_registry

    with opened() as registry, user_errors():
        cfg = registry.settings
        log_key = (
            trust.pinned_log_key(public_key, cfg) if public_key else trust.own_log_key(registry)
        )
        witnesses = [trust.witness_key(w) for w in witness]
        files = list(checkpoint)
        kept = trust.kept_checkpoint_path(cfg)
        if not public_key and kept.exists() and kept not in files:
            files.append(kept)
        claims = tuple(trust.claim_of(str(f), _read(f), log_key, witnesses) for f in files)
        with progress_bar() as bar:
            task = bar.add_task("verify ledger", total=None)
            report = verify_registry(
                registry,
                log_key.public_key,
                progress=lambda n: bar.advance(task, n),
                checkpoints=claims,
                witnesses=tuple(w.name for w in witnesses),
            )
    if report.ok:
        plural = "" if report.checkpoints == 1 else "s"
        extra = f", {report.checkpoints} checkpoint{plural} consistent" if claims else ""
        witnessed = f", cosigned by {', '.join(w.name for w in witnesses)}" if witnesses else ""
        console.print(
            f"ok: {report.leaves} entries ({report.records} records), "
            f"{report.heads} signed tree heads verified under {log_key.origin}"
            f"{extra}{witnessed}",
            highlight=False,
            soft_wrap=True,
        )
        return
    for problem in report.problems:
        console.print(f"{RULES} {problem}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def checkpoint(
    out: Path | None = typer.Option(None, "--out", help="Write the checkpoint here"),
) -> None:
    """The latest signed tree head as a C2SP checkpoint (signed note), for others to keep."""
    from credence.store import trust
    from credence.store.integrity import quick_check

    with opened() as registry, user_errors():
        head, problems = quick_check(registry, trust.own_log_key(registry).public_key)
        if problems:
            for problem in problems:
                console.print(f"{RULES} {problem}", highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        note = trust.make_checkpoint(registry, head.size, head.root)
        trust.keep_checkpoint(registry.settings, note)
    _emit(note, out, console)


@proof_app.command("inclusion")
def proof_inclusion(
    seq: int = typer.Argument(..., min=0, help="The ledger entry (0-based)"),
    out: Path | None = typer.Option(None, "--out", help="Write the proof here"),
    record: Path | None = typer.Option(
        None, "--record", help="Also write the record, salt and subject hash (personal data)"
    ),
) -> None:
    """Proof that entry SEQ is in the latest signed tree (C2SP tlog-proof)."""
    import json

    from credence.ledger.tlog_text import format_inclusion_proof
    from credence.store import proofs, trust

    with opened() as registry, user_errors():
        head = proofs.signed_head(registry.engine)
        path = proofs.inclusion(registry.engine, seq, head.size)
        note = trust.make_checkpoint(registry, head.size, head.root)
        if record is not None:
            document = proofs.record_document(registry, seq)
            record.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    _emit(format_inclusion_proof(seq, path, note), out, console)


@proof_app.command("consistency")
def proof_consistency(
    old_size: int = typer.Argument(..., min=0, help="The size of the tree someone kept"),
    new_size: int | None = typer.Argument(None, help="A signed size (default: the latest)"),
    out: Path | None = typer.Option(None, "--out", help="Write the proof here"),
) -> None:
    """Proof that the tree at NEW_SIZE extends the one at OLD_SIZE (C2SP tlog-witness body)."""
    from credence.ledger.tlog_text import format_consistency_request
    from credence.store import proofs, trust

    with opened() as registry, user_errors():
        head = proofs.signed_head(registry.engine, new_size)
        path = proofs.consistency(registry.engine, old_size, head.size)
        note = trust.make_checkpoint(registry, head.size, head.root)
    _emit(format_consistency_request(old_size, path, note), out, console)


def erase(
    seq: int = typer.Argument(..., min=0, help="The record's ledger entry"),
    reason: str = typer.Option(
        ..., "--reason", help="Why (kept forever in the ledger: no personal data)"
    ),
) -> None:
    """Erase a record's content and salt; its leaf stays, named by a signed erasure entry."""
    from credence.ledger.entries import EntryError

    with opened() as registry, user_errors():
        try:
            by = registry.erase(seq, reason)
        except EntryError as exc:
            fail(f"--reason: {exc}")
    console.print(f"erased ledger entry #{seq}: erasure entry #{by}", highlight=False)


def migrate() -> None:
    """Bring a registry made by an earlier credence to the current schema (docs/ledger.md)."""
    from credence.store.migrate import migrate_registry

    with user_errors():
        done = migrate_registry(settings())
    console.print(done, highlight=False)


# What `credence.cli.main` attaches to the root command, in this order (and `proof`).
COMMANDS = (verify, checkpoint, erase, migrate)


def _read(path: Path) -> str:
    from credence.store.database import StoreError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read checkpoint {path}: {exc}") from None


def _emit(text: str, out: Path | None, console: object) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"written to {out}")
