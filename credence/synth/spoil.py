"""Deliberately bad rows, so that rejections are exercised end to end.

A small, configurable share of rows is replaced, in place, by the mistakes
feeds really make: a wrong check character, a mistyped item code, a date in
the future or one that does not exist, a missing reference, a subject of
the wrong kind, a decision before the event, a missing attribute, a
truncated ID. Spoiling uses its own random stream and keeps every row's
position, so the good rows of a spoiled city equal those of a clean one and
a test can find every bad row by comparing the two.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.ids import USCC_ALPHABET, SubjectKind
from credence.synth.items import ItemTable
from credence.synth.population import Population
from credence.synth.sinks import COLUMNS, SCHEMA

BAD_KINDS = (
    "check-character",
    "unknown-item",
    "future-date",
    "impossible-date",
    "missing-reference",
    "wrong-kind",
    "decided-before-occurred",
    "missing-attribute",
    "malformed-subject",
)


def spoil_table(table: Any, rate: float, spoiler: Spoiler) -> tuple[Any, int]:
    """Replace a `rate` share of rows in place (positions kept) with bad ones."""
    if rate <= 0 or not table.num_rows:
        return table, 0
    mask = spoiler.rng.random(table.num_rows) < rate
    bad = np.flatnonzero(mask)
    if not bad.size:
        return table, 0
    rows = [spoiler.spoil(r) for r in table.take(pa.array(bad)).to_pylist()]
    arrow_mask = pa.array(mask)
    columns = [
        pc.replace_with_mask(
            table.column(name).combine_chunks(),
            arrow_mask,
            pa.array([r[name] for r in rows], type=pa.string()),
        )
        for name in COLUMNS
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA), int(bad.size)


@dataclass(frozen=True)
class Spoiler:
    """Turns good rows into the realistic mistakes a source might send."""

    items: ItemTable
    source: str
    pop: Population
    as_of: dt.date
    rng: np.random.Generator

    def spoil(self, row: dict[str, str]) -> dict[str, str]:
        """A copy of `row` with one mistake, of a kind drawn from BAD_KINDS."""
        kind = BAD_KINDS[int(self.rng.integers(0, len(BAD_KINDS)))]
        return getattr(self, "_" + kind.replace("-", "_"))(dict(row))  # type: ignore[no-any-return]

    def _choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    def _check_character(self, row: dict[str, str]) -> dict[str, str]:
        scheme, _, ident = row["subject"].partition(":")
        alphabet = USCC_ALPHABET if scheme == "uscc" else "0123456789X"
        row["subject"] = f"{scheme}:{ident[:-1]}{self._choice(alphabet.replace(ident[-1], ''))}"
        return row

    def _unknown_item(self, row: dict[str, str]) -> dict[str, str]:
        code = row["item"]
        area, _, name = code.partition(".")
        for typo in (
            self._choice([f"{area}.{name.replace('-', '_')}", code[:-1], code.upper()]),
            f"{code}-old",
        ):
            if typo not in self.items.catalogue:
                row["item"] = typo
                break
        return row

    def _future_date(self, row: dict[str, str]) -> dict[str, str]:
        day = self.as_of + dt.timedelta(days=int(self.rng.integers(1, 400)))
        row["occurred_on"] = row["decided_on"] = day.isoformat()
        return row

    def _impossible_date(self, row: dict[str, str]) -> dict[str, str]:
        field = self._choice(["occurred_on", "decided_on"])
        month_day = self._choice(["02-30", "02-31", "04-31", "06-31", "09-31", "11-31", "13-01"])
        row[field] = f"{row[field][:4]}-{month_day}"
        return row

    def _missing_reference(self, row: dict[str, str]) -> dict[str, str]:
        row["reference"] = ""
        return row

    def _wrong_kind(self, row: dict[str, str]) -> dict[str, str]:
        """A subject of the other kind for this item, or an item not for this subject's kind."""
        is_org = row["subject"].startswith("uscc:")
        kind = SubjectKind.ORGANISATION if is_org else SubjectKind.PERSON
        item = self.items.catalogue[row["item"]]
        others = (
            range(self.pop.organisations, self.pop.size)
            if is_org
            else range(self.pop.organisations)
        )
        if len(others) and len(item.subjects) == 1:
            row["subject"] = self.pop.keys[
                int(self.rng.integers(0, len(others))) + others[0]
            ].as_py()
            return row
        mine = self.items.catalogue.match(
            [p for s in self.items.sources if s.name == self.source for p in s.patterns]
        )
        wrong = [c for c in mine if not self.items.catalogue[c].applies_to(kind)]
        if wrong:
            row["item"] = self._choice(wrong)
            return row
        return self._check_character(row)

    def _decided_before_occurred(self, row: dict[str, str]) -> dict[str, str]:
        occurred = dt.date.fromisoformat(row["occurred_on"])
        row["decided_on"] = (
            occurred - dt.timedelta(days=int(self.rng.integers(1, 31)))
        ).isoformat()
        return row

    def _missing_attribute(self, row: dict[str, str]) -> dict[str, str]:
        """Drop a required attribute; for items with none, send an undeclared one."""
        item = self.items.catalogue[row["item"]]
        required = [n for n, spec in item.attributes.items() if spec.required]
        values = json.loads(row["attributes"]) if row["attributes"] else {}
        if required:
            values.pop(self._choice(required), None)
        else:
            values["remark"] = "补录"
        row["attributes"] = (
            json.dumps(values, ensure_ascii=False, separators=(",", ":")) if values else ""
        )
        return row

    def _malformed_subject(self, row: dict[str, str]) -> dict[str, str]:
        scheme, _, ident = row["subject"].partition(":")
        cut = int(self.rng.integers(0, len(ident)))
        row["subject"] = f"{scheme}:{ident[:cut]}{ident[cut + 1 :]}"
        return row
