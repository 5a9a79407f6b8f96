"""The rejects file: every refused row, where it was and why, beside the input.

`<input>.rejects.csv` holds the row number, the field at fault, the reason
and the original row's values, so a source can fix and resubmit exactly the
rows that failed. It is written to a temporary name and moved into place at
the end, so a reader never sees half a file; a run with no rejects removes
a stale rejects file from an earlier run.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any


def rejects_path(input_path: Path) -> Path:
    return input_path.with_name(input_path.name + ".rejects.csv")


class RejectsWriter:
    """Collects rejected rows into `<input>.rejects.csv` (context manager)."""

    def __init__(self, input_path: Path, columns: list[str]) -> None:
        self.path = rejects_path(input_path)
        self.columns = columns
        self.count = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._fh = self._tmp.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(["row", "field", "reason", *columns])

    def add(self, row_number: int, field: str, reason: str, raw: dict[str, Any]) -> None:
        values = [_cell(raw.get(c)) for c in self.columns]
        self._writer.writerow([row_number, field, reason, *values])
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
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
            if exc_type is None:
                self.path.unlink(missing_ok=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
