"""The one error boundary around every `credence` command.

It lives in the root command group's `invoke`, so it covers every
command and sub-command, those registered later included, both from the
console script and under Typer's test runner. Any exception a command
lets out becomes one or two plain lines and an exit code (see
`credence.cli.failures`); `--debug` or CREDENCE_DEBUG=1 adds the
traceback, masked like the messages. Typer's own pretty tracebacks are
switched off: they print local variables, which hold records and keys.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup
from typer.exceptions import TyperException

from credence.cli.failures import INTERNAL, INTERRUPTED, explain, redact

_TRUE = {"1", "true", "yes", "on"}


class BoundaryGroup(TyperGroup):
    """The root command group: runs the chosen command inside the error boundary."""

    def invoke(self, ctx: Any) -> Any:
        command = self._command_name(ctx)  # before invoking clears ctx.args
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            note = redact(str(exc))
            _stderr().print(f"interrupted: {escape(note)}" if note else "interrupted")
            raise typer.Exit(INTERRUPTED) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise  # a chosen exit status, or a usage error Click prints with status 2
        except Exception as exc:
            code = _report(exc, command, _debugging(ctx))
            raise typer.Exit(code) from None

    def _command_name(self, ctx: Any) -> str:
        """The words naming the command that ran, e.g. `source add`."""
        words = [*getattr(ctx, "_protected_args", []), *ctx.args]
        names: list[str] = []
        group: Any = self
        for word in words or [ctx.invoked_subcommand or ""]:
            sub = getattr(group, "commands", {}).get(word)
            if sub is None:
                break
            names.append(word)
            group = sub
        return " ".join(names) or "credence"


def _debugging(ctx: Any) -> bool:
    if ctx.params.get("debug"):
        return True
    return os.environ.get("CREDENCE_DEBUG", "").strip().lower() in _TRUE


def _lock_timeout() -> float:
    from credence.settings import SettingsError, load_settings

    try:
        return load_settings().lock_timeout
    except SettingsError:
        return 30.0


def _report(exc: Exception, command: str, debug: bool) -> int:
    """Print what failed (and, when debugging, the masked traceback); return the exit code."""
    failure = explain(exc, command, _lock_timeout())
    lines = list(failure.lines)
    if debug:
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        sys.stderr.flush()
        if failure.code == INTERNAL:
            lines = lines[:1]  # the traceback is above; no need to suggest --debug
    first, *rest = lines
    _stderr().print(f"[red]error:[/red] {escape(first)}")
    for line in rest:
        _stderr().print(escape(line))
    return failure.code


def _stderr() -> Console:
    # Made per use: Typer's test runner swaps sys.stderr for each invocation.
    return Console(stderr=True, soft_wrap=True, highlight=False)
