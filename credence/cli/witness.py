"""`credence witness`: run a witness for a credence log from the command line.

Separate from the registry on purpose: a witness is someone else's word
that the log only grew, so it has its own key and state directory and never
reads the registry's database. Refusals exit 1 with one line saying why.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from credence.ledger.note import NoteError, Verifier, parse_consistency_request
from credence.witness import Refusal, Witness, WitnessDir, WitnessError

witness_app = typer.Typer(
    help="Cosign checkpoints of a log (c2sp.org/tlog-witness), refusing rollbacks and forks.",
    no_args_is_help=True,
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except (Refusal, WitnessError, NoteError, OSError) as exc:
        _fail(str(exc))


def _read_vkey(value: str) -> Verifier:
    """A vkey given inline or as the path of a file holding one."""
    path = Path(value)
    text = path.read_text(encoding="utf-8") if path.is_file() else value
    return Verifier.from_vkey(text)


def _request(checkpoint: Path, proof: Path | None) -> tuple[int | None, list[bytes], str]:
    """(old size, proof, note) from a checkpoint file and/or an add-checkpoint proof file.

    Either file may be the full add-checkpoint body; a proof file that stops
    at the blank line takes its checkpoint from CHECKPOINT.
    """
    text = checkpoint.read_text(encoding="utf-8")
    if proof is None:
        if text.startswith("old "):
            old, hashes, note = parse_consistency_request(text)
            return old, hashes, note
        return None, [], text
    proof_text = proof.read_text(encoding="utf-8")
    note = parse_consistency_request(text).note if text.startswith("old ") else text
    if proof_text.endswith("\n\n") and proof_text.count("\n\n") == 1:
        proof_text += note
    old, hashes, proof_note = parse_consistency_request(proof_text)
    if proof_note != note:
        _fail(f"{proof} carries a different checkpoint from {checkpoint}")
    return old, hashes, note


@witness_app.command("init")
def init(
    directory: Path = typer.Option(..., "--dir", help="Witness state directory (created 0700)."),
    log_key: str = typer.Option(..., "--log-key", help="The log's vkey, or a file holding it."),
    name: str = typer.Option(None, "--name", help="Witness key name (default HOST/witness)."),
) -> None:
    """Create a witness: a new key, the pinned log key; prints the witness vkey."""
    with _refusals():
        log = _read_vkey(log_key)
        wdir = WitnessDir.create(directory, log, name or f"{socket.gethostname()}/witness")
    typer.echo(wdir.verifier.vkey())


@witness_app.command("cosign")
def cosign_cmd(
    checkpoint: Path = typer.Argument(..., help="Signed checkpoint note (or add-checkpoint body)."),
    directory: Path = typer.Option(..., "--dir", help="Witness state directory."),
    proof: Path = typer.Option(None, "--proof", help="add-checkpoint body: old N, proof, blank."),
    out: Path = typer.Option(None, "--out", help="Write the cosigned note here (default stdout)."),
) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint this witness cosigned."""
    with _refusals():
        old, hashes, note = _request(checkpoint, proof)
        done = Witness(WitnessDir.open(directory)).add_checkpoint(note, old, hashes)
        if out is None:
            typer.echo(done.note, nl=False)
        else:
            out.write_text(done.note, encoding="utf-8")
    typer.echo(f"cosigned {done.state.origin} size {done.state.size}", err=True)


@witness_app.command("show")
def show(directory: Path = typer.Option(..., "--dir", help="Witness state directory.")) -> None:
    """Print the witness vkey, the pinned log key and the last cosigned size and root."""
    with _refusals():
        wdir = WitnessDir.open(directory)
        state = wdir.state()
    typer.echo(f"witness vkey: {wdir.verifier.vkey()}")
    typer.echo(f"log vkey:     {wdir.log_key.vkey()}")
    if state is None:
        typer.echo("cosigned:     nothing yet (the first checkpoint is trusted on first use)")
    else:
        root = state.root.hex()
        typer.echo(f"cosigned:     size {state.size}, root {root}, at {state.timestamp}")
