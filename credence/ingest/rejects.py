"""The rejects file: every refused row, where it was and why, beside the input.

`<input>.rejects.csv` holds the row number, the field at fault, the reason
and the original row's values, so a source can fix and resubmit exactly the
rows that failed. It is written to a fresh temporary name and moved into
place at the end, so a reader never sees half a file; a run with no rejects
removes a stale rejects file from an earlier run.

The directory is the source's, so it may hold planted links: the temporary
file is created exclusively under a random name (`mkstemp`: O_EXCL, never
follows a link), and a rejects path that is a symbolic link is refused
before anything is written. People open rejects files in spreadsheets, so
a cell starting with a formula character is prefixed with `'` (OWASP "CSV
injection"); that includes negative numbers such as `'-5`. A cell longer
than 64 KiB characters is cut (and says so): the row was refused anyway, and
a rejects file must open in any CSV reader (Python's default limit is 128 KiB).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from credence.ingest.textfile import FormatError

# OWASP: =, +, -, @, tab and carriage return start a formula or a DDE payload.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REJECTS_CELL_CHARS = 64 << 10


def rejects_path(input_path: Path) -> Path:
    return input_path.with_name(input_path.name + ".rejects.csv")


class RejectsWriter:
    """Collects rejected rows into `<input>.rejects.csv` (context manager)."""

    def __init__(self, input_path: Path, columns: list[str]) -> None:
        self.path = rejects_path(input_path)
        if self.path.is_symlink():
            raise FormatError(f"{self.path} is a symbolic link; remove it and run again")
        self.columns = columns
        self.count = 0
        self._remove_stale()
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(["row", "field", "reason", *(neutralise(c) for c in columns)])

    def _remove_stale(self) -> None:
        """Remove temp files a killed run of the same file left behind.

        Safe because the caller holds the input file's ingest lock, so no other
        run of this file is writing one; unlinking a planted link removes the
        link, never its target.
        """
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)

    def add(self, row_number: int, field: str, reason: str, raw: dict[str, Any]) -> None:
        values = [neutralise(_cell(raw.get(c))) for c in self.columns]
        self._writer.writerow([row_number, neutralise(field), neutralise(reason), *values])
        self.count += 1

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._fh.close()
        if self.count:
            os.chmod(self._tmp, 0o644)  # mkstemp makes it 0600; the source must read it
            os.replace(self._tmp, self.path)  # replaces a link planted since, never its target
        else:
            self._tmp.unlink(missing_ok=True)
            if exc_type is None:
                self.path.unlink(missing_ok=True)


def neutralise(text: str) -> str:
    """`text` safe to open in a spreadsheet: a leading formula character is quoted."""
    if len(text) > REJECTS_CELL_CHARS:
        text = f"{text[: REJECTS_CELL_CHARS - 40]}... [cut: {len(text):,} characters]"
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
