"""The `credence` command line (Typer): this module only assembles the commands.

Each command lives in the module of its domain (`registry`, `intake`,
`ledger`, `scoring`, `rulebooks`, `keys`, `witness`) and takes its helpers
from `credence.cli.common`; the tables below are the whole CLI, in the
order `credence --help` lists it.
"""

from __future__ import annotations

import os
import sys

import typer

from credence.cli import export, intake, keys, ledger, registry, rulebooks, scoring, serving
from credence.cli.boundary import BoundaryGroup
from credence.cli.identity import identity_app
from credence.cli.witness import witness_app

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


COMMANDS = (
    registry.init,
    intake.ingest,
    intake.synth,
    *ledger.COMMANDS,
    *scoring.COMMANDS,
    export.export,
    serving.serve,
    intake.demo,
)
GROUPS = {
    "id": registry.id_app,
    "rulebook": rulebooks.rulebook_app,
    "source": registry.source_app,
    "catalogue": registry.catalogue_app,
    "witness": witness_app,
    "proof": ledger.proof_app,
    "key": keys.key_app,
    "identity": identity_app,
}
for command in COMMANDS:
    app.command()(command)
for name, group in GROUPS.items():
    app.add_typer(group, name=name)

# Everything credence writes (databases, snapshots, keys, checkpoints) is private by default.
os.umask(0o077)


def main() -> None:  # pragma: no cover - console entry point
    """The `credence` console script: the app, its exit status passed to the shell."""
    sys.exit(app())
