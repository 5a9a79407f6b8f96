"""What a failure means to the person at the terminal: one or two lines and an exit code.

Every message that leaves a command passes through here, so this is the
one place that keeps resident IDs, attribute values, salts and keys out of
the terminal and the logs: SQL parameters are never shown (engines are made
with `hide_parameters`, and the statement part of a database error is cut
off), quoted values in library errors are dropped, and anything shaped like
an identifier, a salt or a key is masked, in tracebacks too.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from dataclasses import dataclass

from credence.core.catalogue import CatalogueError
from credence.core.ids import InvalidSubject
from credence.core.rulebook import RulebookError
from credence.engines.errors import SnapshotError
from credence.ingest.readers import FormatError
from credence.ledger.entries import EntryError
from credence.ledger.keys import KeyFileError
from credence.settings import SettingsError
from credence.store.database import StoreError

# Exit codes (README "Exit codes").
OK = 0
FOUND = 1  # verify found tampering; an identifier check found an invalid key
USER = 2  # something the user can fix: a bad file, setting, argument or a busy registry
INTERNAL = 3  # a bug or an environment credence does not handle: see --debug
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

# Errors a user can act on, written by credence itself: their message is the line.
USER_ERRORS = (
    SettingsError,
    StoreError,
    CatalogueError,
    FormatError,
    KeyFileError,
    RulebookError,
    InvalidSubject,
    SnapshotError,
    EntryError,
)

# Libraries whose messages may quote the values they choked on.
_QUOTING_LIBRARIES = ("sqlalchemy", "sqlite3", "pyarrow", "duckdb", "adbc", "_duckdb")

_B64 = "[A-Za-z0-9+/]"
_MASKS = (
    # Bound values of an engine made without hide_parameters (SQLAlchemy's error text).
    (re.compile(r"\[parameters: [^\n]*"), "[parameters hidden]"),
    (re.compile(r"\b(ric|uscc):[^\s'\",)\]]+", re.IGNORECASE), r"\1:<redacted>"),
    # Resident IDs and credit codes (15 or 18 characters, mostly digits) and long numbers.
    (re.compile(r"\b(?=[0-9A-Za-z]*\d{6})[0-9A-Za-z]{15,18}\b"), "<redacted>"),
    (re.compile(r"\b\d{12,}\b"), "<redacted>"),
    # Salts and keys: bytes literals, hex and base64 runs.
    (re.compile(r"""b(['"])(?:\\.|(?!\1).)*\1"""), "b'<redacted>'"),
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<redacted>"),
    (re.compile(rf"(?={_B64}*\d)(?={_B64}*[A-Z])(?={_B64}*[a-z]){_B64}{{32,}}={{0,2}}"), "<key>"),
)
_QUOTED = re.compile(r"""(['"])(?:\\.|(?!\1).){1,200}?\1""")
_SQL_TAIL = re.compile(r"\s*\[(SQL|parameters):.*", re.DOTALL)


@dataclass(frozen=True)
class Failure:
    """The lines to print and the exit code for one exception."""

    code: int
    lines: tuple[str, ...]


def redact(text: str) -> str:
    """`text` with identifiers, salts and keys masked (messages and tracebacks)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def explain(exc: BaseException, command: str, lock_timeout: float) -> Failure:
    """Map `exc` to plain lines and an exit code; never includes stored values."""
    if isinstance(exc, USER_ERRORS):
        return Failure(USER, (redact(str(exc)),))
    known = _environment(exc, lock_timeout)
    if known is not None:
        return Failure(USER, (known,))
    name = type(exc).__name__
    message = _message(exc)
    line = f"{name} while {command}: {message}" if message else f"{name} while {command}"
    return Failure(
        INTERNAL,
        (line, "this is a bug or an unhandled condition: run with --debug for details"),
    )


def _environment(exc: BaseException, lock_timeout: float) -> str | None:
    """A plain line for locks, full disks, read-only stores and permissions, else None."""
    text = str(_origin(exc)).lower()
    # SQLite's busy timeout, or PostgreSQL's lock_timeout on the writer's advisory lock.
    locked = ("database is locked", "database table is locked", "due to lock timeout")
    if any(phrase in text for phrase in locked):
        return (
            f"the registry is locked by another process (a write has waited {lock_timeout:g} s); "
            "try again when it finishes, or raise CREDENCE_LOCK_TIMEOUT"
        )
    if "database or disk is full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full: free some space and run the same command again"
    if "readonly database" in text or getattr(exc, "errno", None) == errno.EROFS:
        return "the registry is read-only: check the permissions of CREDENCE_DATA_DIR"
    if "unable to open database file" in text:
        return "cannot open the registry database: check CREDENCE_DATA_DIR exists and is writable"
    if isinstance(exc, OSError):
        return _os_line(exc)
    return None


def _os_line(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    if isinstance(exc, PermissionError):
        return f"permission denied{where}; check the owner and mode of the file or directory"
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory{where}"
    reason = (exc.strerror or type(exc).__name__).lower()
    return f"{reason}{where}"


def _origin(exc: BaseException) -> BaseException:
    """The driver's error inside a SQLAlchemy wrapper (its message has no SQL)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def _message(exc: BaseException) -> str:
    """The first line of the exception's message, without SQL, quoted values or IDs."""
    origin = _origin(exc)
    text = str(origin)
    module = type(origin).__module__.split(".")[0]
    if module in _QUOTING_LIBRARIES or isinstance(origin, sqlite3.Error):
        text = _QUOTED.sub("'…'", _SQL_TAIL.sub("", text))
    lines = [line for line in text.splitlines() if line.strip()]
    first = redact(lines[0].strip()) if lines else ""
    return first[:300]
