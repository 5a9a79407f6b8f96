"""Validating a whole Arrow batch at once: the bulk (Parquet) path's validator.

The scalar RowValidator (credence.core.records) is the rule book; this
applies the same rules as array operations (pyarrow.compute and numpy) to
certify the rows that are plainly valid in canonical form: item in the
source's catalogue items and fit for the subject's kind, `uscc:`/`ric:`
subjects with their check characters, birth dates and regions, ISO dates
in range, printable references. Identifier checks run once per distinct
value; dates and references are read from the strings' bytes in place.
Every row it cannot certify (a rejection, or a valid row in a form it does
not handle, such as untrimmed text or another scheme) is handed to the
scalar validator, so a rejected row gets the very field and reason the
scalar validator gives, and an accepted row the very same record:
tests/ingest/test_arrowcheck.py checks both on generated and hostile
batches.

Attributes are JSON text, checked by the scalar validator's own attribute
check once per row that has them (parsing JSON and the prohibited-content
guard have no array form here); that is the one per-row step left.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.catalogue import REVOCATION, CatalogueItem
from credence.core.ids import USCC_ALPHABET, SubjectKind, region_existed
from credence.core.records import (
    EARLIEST_DATE,
    FIELD_MAX_LENGTHS,
    Record,
    Rejection,
    RowValidator,
)
from credence.ingest.attrcheck import ItemAttributes
from credence.ledger.leaf import text as literal

CANONICAL_COLUMNS = (
    "reference",
    "item",
    "subject",
    "occurred_on",
    "decided_on",
    "attributes_json",
    "corrects",
)
_REFERENCE = r"^[\x21-\x7e]{1,128}$"
_FORMULA = r"^[=+\-@]"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_USCC_LETTERS = "0-9A-HJ-NPQRTUWXY"  # USCC_ALPHABET as a character class
_USCC = rf"^uscc:[{_USCC_LETTERS}]{{2}}[0-9]{{6}}[{_USCC_LETTERS}]{{10}}$"
_RIC = r"^ric:[0-9]{17}[0-9X]$"
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_CHECK = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
# GB 11643 as python-stdnum computes it: (1 - 2 * int(body, 13)) % 11, and 13 = 2 (mod 11).
_RIC_WEIGHTS = np.array([pow(2, 16 - i, 11) for i in range(17)], dtype=np.int64)
_RIC_CHECK = np.frombuffer(b"0123456789X", dtype=np.uint8)
_NO_BYTES = np.zeros(0, dtype=np.uint8)
_FORMULA_LEADS = np.frombuffer(b"=+-@", dtype=np.uint8)  # _FORMULA's first characters
_REGIONS_KEPT = 1_000_000  # (region, year) verdicts a validator remembers (~3,300 x 120 exist)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)

Rejected = tuple[int, Rejection, dict[str, Any]]
_NULL_TEXT = pa.scalar(None, pa.string())


class ArrowValidator:
    """Vectorised validation of Arrow batches, falling back to `scalar` row by row."""

    def __init__(self, scalar: RowValidator) -> None:
        self.scalar = scalar
        catalogue = scalar.catalogue
        limit = FIELD_MAX_LENGTHS["item"]
        codes = sorted(
            c for c in scalar.allowed if c in catalogue.items and len(c) <= limit and c.strip() == c
        )
        self._codes = pa.array(codes, pa.string())
        self._items: dict[str, CatalogueItem] = {c: catalogue.items[c] for c in codes}
        self._for_people = pa.array(
            [c for c in codes if SubjectKind.PERSON in catalogue.items[c].subjects], pa.string()
        )
        self._for_organisations = pa.array(
            [c for c in codes if SubjectKind.ORGANISATION in catalogue.items[c].subjects],
            pa.string(),
        )
        self._with_attributes = pa.array(
            [c for c in codes if catalogue.items[c].attributes], pa.string()
        )
        self._checkers = {
            c: ItemAttributes(catalogue.items[c]) for c in codes if catalogue.items[c].attributes
        }
        # (region, birth year) as ten digits -> region_existed: batch after batch meets
        # the same pairs (the bench city: 40,000 distinct of 86,000 looked up by batch).
        self._regions: dict[int, bool] = {}
        self._today = scalar.today.isoformat()
        self._today_number = _date_number(scalar.today)

    def check(self, batch: Any, first_row: int) -> tuple[Any, list[Rejected]]:
        """(accepted rows: `row` and CANONICAL_COLUMNS; rejected rows), both in row order."""
        n = batch.num_rows
        columns = {name: _text_column(batch, name, n) for name in _INPUT_COLUMNS}
        if any(c is None for c in columns.values()):  # dates as Arrow dates: row by row
            return self._fallback(batch, first_row, np.arange(n), [])
        cols: dict[str, Any] = columns
        item, corrects, decided = cols["item"], cols["corrects"], cols["decided_on"]
        revocation = _true(pc.equal(item, literal(REVOCATION)))
        no_corrects = _blank(corrects)
        no_decision = _blank(decided)
        occurred_ok = self._date_ok(cols["occurred_on"])
        people, organisations = self._subjects(cols["subject"])
        fits = pc.or_(
            pc.and_(people, pc.is_in(item, value_set=self._for_people)),
            pc.and_(organisations, pc.is_in(item, value_set=self._for_organisations)),
        )
        fits = pc.or_(fits, pc.and_(revocation, pc.or_(people, organisations)))
        good = pc.and_(
            pc.or_(pc.is_in(item, value_set=self._codes), revocation),
            pc.or_(pc.invert(revocation), pc.invert(no_corrects)),
        )
        good = pc.and_(good, _true(fits))
        good = pc.and_(good, occurred_ok)
        decided_ok = pc.and_(
            self._date_ok(decided), _true(pc.greater_equal(decided, cols["occurred_on"]))
        )
        good = pc.and_(good, pc.or_(no_decision, decided_ok))
        good = pc.and_(good, _reference_ok(cols["reference"]))
        good = pc.and_(good, pc.or_(no_corrects, _reference_ok(corrects)))
        good_mask = np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool)
        attributes, bad_attributes = self._attributes(cols, good_mask)
        good_mask[bad_attributes] = False
        certified = np.flatnonzero(good_mask)
        take = pa.array(certified, pa.int64())
        table = pa.table(
            {
                "row": pa.array(certified + first_row, pa.int64()),
                "reference": cols["reference"].take(take),
                "item": item.take(take),
                "subject": cols["subject"].take(take),
                "occurred_on": cols["occurred_on"].take(take),
                "decided_on": pc.if_else(no_decision, _NULL_TEXT, decided).take(take),
                "attributes_json": attributes.take(take),
                "corrects": pc.if_else(no_corrects, _NULL_TEXT, corrects).take(take),
            }
        )
        return self._fallback(batch, first_row, np.flatnonzero(~good_mask), [table])

    def _fallback(
        self, batch: Any, first_row: int, rows: Any, tables: list[Any]
    ) -> tuple[Any, list[Rejected]]:
        """The scalar validator on `rows`; its records joined to `tables`, in row order."""
        rejected: list[Rejected] = []
        records: list[tuple[int, Record]] = []
        if len(rows):
            raw_rows = batch.take(pa.array(rows, pa.int64())).to_pylist()
            for index, raw in zip(rows.tolist(), raw_rows, strict=True):
                result = self.scalar.validate(raw)
                if isinstance(result, Rejection):
                    rejected.append((first_row + index, result, raw))
                else:
                    records.append((first_row + index, result))
        if records or not tables:
            tables.append(records_table(records))
        table = pa.concat_tables(tables)
        if records and len(tables) > 1:
            table = table.take(pc.sort_indices(table["row"]))
        return table, rejected

    def _date_ok(self, values: Any) -> Any:
        """YYYY-MM-DD, a real date, from EARLIEST_DATE to today (a boolean array, no nulls).

        Read from the UTF-8 bytes in place, a character position at a time: `_DATE`
        holds exactly for a 10-byte text of ASCII digits with '-' at 4 and 7 (a
        regex, slices and casts cost four times as much)."""
        offsets, data, valid = _string_buffers(values)
        rows = np.flatnonzero(valid & (np.diff(offsets) == 10))
        starts = offsets[rows]
        shaped = (data[starts + 4] == ord("-")) & (data[starts + 7] == ord("-"))
        digits: list[Any] = []
        for at in (0, 1, 2, 3, 5, 6, 8, 9):
            digit = data[starts + at] - np.uint8(ord("0"))  # below '0' wraps past 9
            shaped &= digit <= 9
            digits.append(digit.astype(np.int32))
        y1, y2, y3, y4, m1, m2, d1, d2 = digits
        year = y1 * 1000 + y2 * 100 + y3 * 10 + y4
        month, day = m1 * 10 + m2, d1 * 10 + d2
        number = year * 10_000 + month * 100 + day
        in_range = (number >= _date_number(EARLIEST_DATE)) & (number <= self._today_number)
        ok = np.zeros(len(values), dtype=bool)
        ok[rows] = shaped & in_range & _real_date(year, month, day)
        return pa.array(ok)

    def _subjects(self, subjects: Any) -> tuple[Any, Any]:
        """(valid resident ID, valid USCC) per row, checked once per distinct subject."""
        encoded = pc.dictionary_encode(subjects)
        distinct = encoded.dictionary
        people = self._valid_rics(distinct)
        organisations = _valid_usccs(distinct)
        indices = encoded.indices
        return (
            _true(pa.array(people).take(indices)),
            _true(pa.array(organisations).take(indices)),
        )

    def _valid_rics(self, subjects: Any) -> Any:
        shaped = np.asarray(
            _true(pc.match_substring_regex(subjects, _RIC)).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        valid = np.zeros(len(subjects), dtype=bool)
        where = np.flatnonzero(shaped)
        if not len(where):
            return valid
        chars = _fixed_bytes(subjects.take(pa.array(where, pa.int64())), 4, 18)
        digits = chars[:, :17].astype(np.int64) - ord("0")
        check = _RIC_CHECK[(1 - 2 * (digits @ _RIC_WEIGHTS)) % 11]
        year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
        month = digits[:, 10:12] @ np.array([10, 1])
        day = digits[:, 12:14] @ np.array([10, 1])
        born = year * 10_000 + month * 100 + day
        ok = (check == chars[:, 17]) & _real_date(year, month, day)
        ok &= born <= self._today_number
        # Region tables: once per distinct (region, year) of the file, not per subject.
        rows = np.flatnonzero(ok)
        keys, inverse = np.unique(
            digits[rows, :10] @ (10 ** np.arange(9, -1, -1)), return_inverse=True
        )
        known = self._regions
        existed = np.array(
            [known[k] if k in known else self._region_existed(k) for k in keys.tolist()],
            dtype=bool,
        )
        ok[rows] = existed[inverse.reshape(-1)]
        valid[where] = ok
        return valid

    def _region_existed(self, key: int) -> bool:
        """region_existed for the ten digits `key` (region and birth year), remembered."""
        body = f"{key:010d}"
        found = region_existed(body[:6], body[6:10])
        if len(self._regions) < _REGIONS_KEPT:
            self._regions[key] = found
        return found

    def _attributes(self, cols: dict[str, Any], good: Any) -> tuple[Any, Any]:
        """Canonical attributes of the certified rows, and the rows whose attributes fail.

        Texts already canonical and valid are certified as array operations
        (credence.ingest.attrcheck) and kept as they are; the scalar check
        runs on the rest, one row at a time.
        """
        values = cols["attributes"]
        blank = np.asarray(_blank(values).to_numpy(zero_copy_only=False), dtype=bool)
        with_attributes = pc.is_in(cols["item"], value_set=self._with_attributes)
        needed = ~blank | np.asarray(_true(with_attributes).to_numpy(zero_copy_only=False), bool)
        needed &= good
        certified, found = self._certified(cols["item"], values, needed, blank)
        rows = np.flatnonzero(needed & ~certified)
        bad: list[int] = []
        if len(rows):
            take = pa.array(rows, pa.int64())
            items = cols["item"].take(take).to_pylist()
            texts = values.take(take).to_pylist()
            check = self.scalar._attributes
            catalogue = self._items
            checked: list[int] = []
            results: list[str | None] = []
            for index, code, text in zip(rows.tolist(), items, texts, strict=True):
                result = check(text, None if code == REVOCATION else catalogue.get(code))
                if isinstance(result, Rejection):
                    bad.append(index)
                else:
                    checked.append(index)
                    results.append(result)
            found.append((np.array(checked, dtype=np.int64), pa.array(results, pa.string())))
        return _placed(len(good), found), np.array(bad, dtype=np.int64)

    def _certified(
        self, items: Any, values: Any, needed: Any, blank: Any
    ) -> tuple[Any, list[tuple[Any, Any]]]:
        """Rows whose attributes need no scalar check, and (rows, canonical texts) of those
        with attributes: blank where nothing is required, or plain and valid for their
        item (ItemAttributes), grouped by item."""
        certified = np.zeros(len(needed), dtype=bool)
        canonical: list[tuple[Any, Any]] = []
        encoded = pc.dictionary_encode(items)
        codes = encoded.dictionary.to_pylist()
        index = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False))
        for number, code in enumerate(codes):
            checker = self._checkers.get(code)
            if checker is None:
                continue
            rows = np.flatnonzero((index == number) & needed)
            if not len(rows):
                continue
            empty = blank[rows]
            if not checker.required:
                certified[rows[empty]] = True
            full = rows[~empty]
            if len(full):
                ok, texts = checker.certify(values.take(pa.array(full, pa.int64())))
                certified[full] = ok
                canonical.append((full[ok], texts))
        return certified, canonical


def _placed(n: int, pieces: list[tuple[Any, Any]]) -> Any:
    """A string array of `n` rows, null but where a piece (row numbers, their texts) puts
    a text: the texts joined once and taken into place by one index map, rather than a
    Python list of n entries (0.3-0.4 us a row in the worker)."""
    index = np.full(n, -1, dtype=np.int64)
    texts: list[Any] = []
    placed = 0
    for rows, values in pieces:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if len(rows) != len(values):
            raise ValueError(f"{len(rows)} rows for {len(values)} texts")
        index[rows] = np.arange(placed, placed + len(rows))
        texts.append(values.cast(pa.string()))
        placed += len(rows)
    if not placed:
        return pa.nulls(n, pa.string())
    where = pa.array(index, pa.int64(), mask=index < 0)
    return pa.concat_arrays(texts).take(where)


_INPUT_COLUMNS = (
    "item",
    "subject",
    "occurred_on",
    "reference",
    "decided_on",
    "corrects",
    "attributes",
)


def records_table(records: list[tuple[int, Record]]) -> Any:
    """(row number, Record) pairs as a table of `row` and CANONICAL_COLUMNS."""
    columns: dict[str, Any] = {"row": pa.array([r[0] for r in records], pa.int64())}
    for name in CANONICAL_COLUMNS:
        columns[name] = pa.array([getattr(r[1], name) for r in records], pa.string())
    return pa.table(columns)


def _text_column(batch: Any, name: str, n: int) -> Any:
    """The column as a plain string array (nulls if absent); None if it holds dates."""
    if name not in batch.schema.names:
        return pa.nulls(n, pa.string())
    column = batch.column(name)
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_null(kind):
        return pa.nulls(n, pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    return None


def _true(mask: Any) -> Any:
    """A boolean array with null read as false."""
    return pc.fill_null(mask, False)


def _blank(values: Any) -> Any:
    """Null or the empty string: what the scalar validator reads as absent (no trimming)."""
    return _true(pc.or_kleene(pc.is_null(values), pc.equal(values, literal(""))))


def _reference_ok(values: Any) -> Any:
    """`_REFERENCE` and not `_FORMULA` (a boolean array, no nulls).

    Where every byte of the column is printable ASCII (the usual batch), from
    the bytes in place: 1-128 bytes, the first none of "=+-@"; a third of the
    two regexes' cost. Otherwise the regexes.
    """
    offsets, data, valid = _string_buffers(values)
    text = data[offsets[0] : offsets[-1]]
    if ((text < 0x21) | (text > 0x7E)).any():
        shaped = _true(pc.match_substring_regex(values, _REFERENCE))
        return pc.and_(shaped, pc.invert(_true(pc.match_substring_regex(values, _FORMULA))))
    lengths = np.diff(offsets)
    ok = valid & (lengths >= 1) & (lengths <= 128)
    if ok.any():
        lead = data[np.where(ok, offsets[:-1], offsets[0])]
        ok &= ~np.isin(lead, _FORMULA_LEADS)
    return pa.array(ok)


def _string_buffers(values: Any) -> tuple[Any, Any, Any]:
    """(offsets: n + 1 int64, UTF-8 bytes: uint8, valid: bool) of a string array, no copy
    of the text. A null row's bytes are undefined: callers read only where valid."""
    n = len(values)
    _, offsets_buffer, data_buffer = values.buffers()
    if offsets_buffer is None:  # all null, no buffers
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        raw = np.frombuffer(offsets_buffer, dtype=np.int32)
        offsets = raw[values.offset : values.offset + n + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else _NO_BYTES
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return offsets, data, valid


def _date_number(day: dt.date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def _real_date(year: Any, month: Any, day: Any) -> Any:
    """Whether year-month-day is a date of the proleptic Gregorian calendar (years 1-9999)."""
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    return (year >= 1) & month_ok & (day >= 1) & (day <= days)


def _fixed_bytes(values: Any, start: int, width: int) -> Any:
    """ASCII strings of one length as an (n, width) uint8 array, from character `start`."""
    text = "".join(values.to_pylist()).encode("ascii")
    return np.frombuffer(text, dtype=np.uint8).reshape(len(values), start + width)[:, start:]


def _valid_usccs(subjects: Any) -> Any:
    """Whether each `uscc:` subject is canonical with its GB 32100 check character."""
    shaped = np.asarray(
        _true(pc.match_substring_regex(subjects, _USCC)).to_numpy(zero_copy_only=False), dtype=bool
    )
    valid = np.zeros(len(subjects), dtype=bool)
    where = np.flatnonzero(shaped)
    if len(where):
        chars = _fixed_bytes(subjects.take(pa.array(where, pa.int64())), 5, 18)
        total = _USCC_VALUE[chars[:, :17]] @ _USCC_WEIGHTS
        valid[where] = _USCC_CHECK[(-total) % 31] == chars[:, 17]
    return valid
