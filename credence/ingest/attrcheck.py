"""Certifying attribute texts as array operations: the bulk path's attribute check.

The scalar check (RowValidator._attributes) parses each row's JSON, checks
every value against its catalogue declaration and the prohibited-content
guard, and writes the attributes back as canonical JSON. Measured, that was
two thirds of the validation worker's time. Most texts a source sends are
compact objects of plain values, whose canonical form is the same pairs in
sorted key order, so this certifies and rewrites them without parsing:

- one RE2 pattern per catalogue item accepts JSON objects of its
  declared attributes (one or more keys, each once, in any order, with any
  JSON whitespace; strings without escapes, integers below 10^15, decimals
  RFC 8785 writes as they stand, booleans, dates), and each text is
  rewritten with its keys sorted, which is what the scalar check writes.
  The pattern runs once a text: for items of one or two attributes as one
  anchored extract with a group per attribute and place (values and the
  once-each count in the same pass), else as a match, one search for a
  repeated key and one extract a key;
- each value is then checked per column: string lengths, closed
  vocabularies and patterns (patterns once per distinct value, with the
  catalogue's own compiled pattern), dates as numbers, required keys;
- the guard runs once per distinct value with its numbers blanked. The
  blanking is the scalar one (records._DIGITS) done as one RE2 replacement,
  which gives the same text unless a run of digits sits between two ASCII
  letters (there the scalar rule keeps a lone digit); such values take the
  scalar blanking.

A text it cannot certify (a key twice, a null, a float written otherwise
than RFC 8785 writes it, an escape, an undeclared key, a failed check) is
left to the scalar check, so every rejection and every non-canonical text gets the scalar outcome:
tests/ingest/test_attrcheck.py compares the two on generated texts, and
tests/ingest/test_attrcheck_verdicts.py every row's verdict through ArrowValidator.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.arrowbuffers import one_array, text_buffers
from credence.core.catalogue import AttributeSpec, AttributeType, CatalogueItem
from credence.core.guard import find_prohibited
from credence.core.records import _DIGITS, EARLIEST_DATE, MAX_ATTRIBUTES_CHARS
from credence.ledger.leaf import integer
from credence.ledger.leaf import text as literal

scanner: ModuleType | None
try:
    from credence.ingest import _attrscan

    scanner = _attrscan
except ImportError:  # built without a C compiler: the RE2 passes below do the work
    scanner = None

# Values whose canonical JSON is the text between the delimiters, as orjson writes it.
_STRING = r'"[^"\\\x00-\x1f]+"'
_INTEGER = r"(?:0|-?[1-9][0-9]{0,14})"  # below 10^15 < 2^53; "-0" is written "0"
# A decimal that RFC 8785 writes as it stands: at least 1 in magnitude (ECMAScript writes
# no exponent there), no trailing zero, and (checked after: _DECIMAL_CHARS) at most 15
# significant digits, so no shorter decimal reads as the same double and the shortest
# form is the text. Other floats are left to the scalar check.
_DECIMAL = r"-?[1-9][0-9]{0,13}\.[0-9]{0,13}[1-9]"
_DECIMAL_CHARS = 16  # 15 digits and the point, besides a minus sign
_VALUES = {
    AttributeType.STRING: _STRING,
    AttributeType.INTEGER: _INTEGER,
    AttributeType.NUMBER: f"(?:{_DECIMAL}|{_INTEGER})",
    AttributeType.BOOLEAN: "(?:true|false)",
    AttributeType.DATE: r'"[0-9]{4}-[0-9]{2}-[0-9]{2}"',
}
_WS = r"[ \t\n\r]*"  # JSON's whitespace, which the canonical form drops
_FLANKED_DIGITS = "[A-Za-z][0-9]+[A-Za-z]"  # where the scalar blanking differs from RE2's
_PLACED_MAX = 2  # attributes up to which ItemAttributes uses placed_pattern
# The compiled scan's letter for each value type, and the most names it takes.
_SCAN_TYPES = {
    AttributeType.STRING: "s",
    AttributeType.INTEGER: "i",
    AttributeType.NUMBER: "n",
    AttributeType.BOOLEAN: "b",
    AttributeType.DATE: "d",
}
_SCAN_NAMES = 64
_EMPTY = literal("")
_NULL = pa.scalar(None, pa.string())
_EARLIEST = EARLIEST_DATE.year * 10_000 + EARLIEST_DATE.month * 100 + EARLIEST_DATE.day
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def object_pattern(specs: dict[str, AttributeSpec]) -> str:
    """RE2: a compact JSON object of one or more of `specs`' attributes, in any order.

    A key may still appear twice here; ItemAttributes.certify counts them.
    """
    pairs = "|".join(
        f'"{name}"{_WS}:{_WS}{_VALUES[spec.type]}' for name, spec in sorted(specs.items())
    )
    return rf"^{_WS}\{{{_WS}(?:{pairs})(?:{_WS},{_WS}(?:{pairs}))*{_WS}\}}{_WS}$"


def placed_pattern(specs: dict[str, AttributeSpec]) -> str:
    """RE2: object_pattern with at most len(specs) pairs, a group `name_place` for each.

    The value of attribute `name` in the pair at `place` (0, 1, ...) is
    group `name_place`; a group that took no part is empty.
    """

    def pairs(place: int) -> str:
        return "|".join(
            f'"{name}"{_WS}:{_WS}(?P<{name}_{place}>{_VALUES[spec.type]})'
            for name, spec in sorted(specs.items())
        )

    rest = ""
    for place in range(len(specs) - 1, 0, -1):
        rest = f"(?:{_WS},{_WS}(?:{pairs(place)}){rest})?"
    return rf"^{_WS}\{{{_WS}(?:{pairs(0)}){rest}{_WS}\}}{_WS}$"


def repeated_pattern(specs: dict[str, AttributeSpec]) -> str:
    """RE2: some key of `specs` occurs twice (as a key: a quoted name, then a colon).

    Two such occurrences never overlap, so this matches exactly where a
    per-key count of them would exceed one.
    """
    return "|".join(f'"{name}"{_WS}:[\\s\\S]*"{name}"{_WS}:' for name in sorted(specs))


class ItemAttributes:
    """The certifier for one catalogue item's attributes."""

    def __init__(self, item: CatalogueItem) -> None:
        self.item = item
        self.specs = dict(sorted(item.attributes.items()))  # canonical order: sorted keys
        self.pattern = object_pattern(self.specs)
        # Few attributes: one anchored extract with a group per (attribute, place) does the
        # object pattern, the values and the once-each count in one pass (measured cheaper up
        # to two attributes; past that RE2 leaves its one-pass matcher, with 9+ groups).
        self.placed = placed_pattern(self.specs) if len(self.specs) <= _PLACED_MAX else None
        self.repeated = repeated_pattern(self.specs)
        self.required = frozenset(item.required_attributes)
        # Names are catalogue identifiers; anything else is left to the scalar check.
        self.usable = all(re.fullmatch("[a-z][a-z0-9_]*", name) for name in self.specs)
        self._guarded: dict[str, bool] = {}  # blanked value -> passes the guard
        self._names = tuple(name.encode() for name in self.specs)
        self._types = "".join(_SCAN_TYPES[spec.type] for spec in self.specs.values())

    def certify(self, texts: Any) -> tuple[Any, Any]:
        """(a numpy bool per text: valid with plain values; the canonical texts of those).

        The canonical text is the pairs rewritten in sorted key order, which
        is what the scalar check's fast_json (canonical_json with a decimal)
        gives for such values.
        """
        ok = np.zeros(len(texts), dtype=bool)
        if not self.usable:
            return ok, pa.nulls(0, pa.string())
        scanned = self._scanned(texts)
        canonical = None
        if scanned is not None:  # the compiled scan: one pass a text
            ok, where, good, found, canonical = scanned
        else:
            short = _mask(pc.less_equal(pc.utf8_length(texts), integer(MAX_ATTRIBUTES_CHARS)))
            if self.placed is not None:
                ok, where, good, found = self._placed(texts, short)
            else:
                ok, where, good, found = self._searched(texts, short)
        if not len(where):
            return ok, pa.nulls(0, pa.string())
        parts = []
        for name, spec in self.specs.items():
            values = found[name]  # null where the key is absent
            if canonical is None:
                pair = pc.binary_join_element_wise(literal(f',"{name}":'), values, literal(""))
                parts.append(pair)
            present = _mask(pc.is_valid(values))
            if name in self.required:
                good &= present
            if spec.type is AttributeType.STRING:
                good &= ~present | self._strings_ok(spec, pc.utf8_slice_codeunits(values, 1, -1))
            elif spec.type is AttributeType.DATE:
                good &= ~present | _dates_ok(pc.utf8_slice_codeunits(values, 1, 11))
            elif spec.type is AttributeType.NUMBER:
                good &= ~present | _digits_ok(values)
        ok[where] = good
        if canonical is None:
            empty = literal("")
            pairs = pc.binary_join_element_wise(*(pc.fill_null(p, empty) for p in parts), empty)
            inner = pc.utf8_slice_codeunits(pairs, 1)
            canonical = pc.binary_join_element_wise(literal("{"), inner, literal("}"), empty)
        return ok, canonical.filter(pa.array(good))

    def _scanned(self, texts: Any) -> tuple[Any, Any, Any, dict[str, Any], Any] | None:
        """(ok, rows accepted, all true, values by name, canonical texts) from the compiled
        scan (credence/ingest/_attrscan.c), which accepts what object_pattern does with each
        key once and the length bound; None where it does not run (not built, another
        Arrow type, more names than it takes)."""
        if scanner is None or not 0 < len(self.specs) <= _SCAN_NAMES:
            return None
        texts = one_array(texts)
        spec = text_buffers(texts) if texts.type == pa.string() else None
        if spec is None:
            return None
        n = len(texts)
        scanned = scanner.scan(n, spec, self._names, self._types, MAX_ATTRIBUTES_CHARS)
        flags, columns, (canon_offsets, canon_data) = scanned
        ok = np.frombuffer(flags, dtype=np.uint8).astype(bool)
        where = np.flatnonzero(ok)
        m = len(where)
        found = {
            name: pa.Array.from_buffers(
                pa.string(), m, [pa.py_buffer(v), pa.py_buffer(o), pa.py_buffer(d)]
            )
            for name, (v, o, d) in zip(self.specs, columns, strict=True)
        }
        canonical = pa.Array.from_buffers(
            pa.string(), m, [None, pa.py_buffer(canon_offsets), pa.py_buffer(canon_data)]
        )
        return ok, where, np.ones(m, dtype=bool), found, canonical

    def _placed(self, texts: Any, short: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        """(ok, rows matched, all true, values by name) from the one placed extract.

        A text with a key twice has more pairs than places, or the key in two
        places: either way not certified, as with the per-key count.
        """
        found = pc.extract_regex(texts, self.placed)
        ok = _mask(pc.is_valid(found)) & short
        where = np.flatnonzero(ok)
        if not len(where):
            return ok, where, None, {}
        found = found.take(pa.array(where, pa.int64()))
        places = range(len(self.specs))
        good = np.ones(len(where), dtype=bool)
        values: dict[str, Any] = {}
        for name in self.specs:
            # A group that took no part is "" (a value is never empty): read as absent.
            columns = [pc.struct_field(found, f"{name}_{place}") for place in places]
            present = [_mask(pc.not_equal(c, _EMPTY)) for c in columns]
            good &= np.sum(present, axis=0) <= 1
            value = _NULL
            for column, here in zip(columns, present, strict=True):
                value = pc.if_else(pa.array(here), column, value)
            values[name] = value
        return ok, where, good, values

    def _searched(self, texts: Any, short: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        """(ok, rows matched, each key at most once, values by name): one search a key."""
        ok = _mask(pc.match_substring_regex(texts, self.pattern)) & short
        where = np.flatnonzero(ok)
        if not len(where):
            return ok, where, None, {}
        matched = texts.take(pa.array(where, pa.int64()))
        good = ~_mask(pc.match_substring_regex(matched, self.repeated))
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            # Values hold no '"', so a key's quoted name occurs only where it is a key.
            key = f'"{name}"{_WS}:{_WS}'
            value = _VALUES[spec.type]
            found = pc.extract_regex(matched, f"[{{,]{_WS}{key}(?P<v>{value}){_WS}[,}}]")
            values[name] = pc.struct_field(found, "v")
        return ok, where, good, values

    def _strings_ok(self, spec: AttributeSpec, values: Any) -> Any:
        """Per value (null: true): the declared shape and the guard, as the scalar check."""
        shaped = _mask(pc.less_equal(pc.utf8_length(values), integer(spec.max_length)))
        if spec.values:
            in_vocabulary = _mask(pc.is_in(values, value_set=pa.array(spec.values, pa.string())))
        else:
            in_vocabulary = np.zeros(len(values), dtype=bool)
        if spec.pattern is not None:
            rest = pc.filter(values, pa.array(shaped & ~in_vocabulary))
            distinct = pc.unique(pc.drop_null(rest)).to_pylist()
            # What string_problem tests after the length and the vocabulary (both done).
            fits = spec.fitting(distinct)
            matched = _mask(pc.is_in(values, value_set=pa.array(fits, pa.string())))
            shaped &= in_vocabulary | matched
        else:
            shaped &= in_vocabulary
        return shaped & self._guard_ok(values) | _mask(pc.is_null(values))

    def _guard_ok(self, values: Any) -> Any:
        """find_prohibited of the number-blanked value passes (once per distinct blanked text)."""
        flanked = _mask(pc.match_substring_regex(values, _FLANKED_DIGITS))
        blanked = pc.replace_substring_regex(values, "[0-9]+", "0")
        if flanked.any():
            texts = blanked.to_pylist()
            for i in np.flatnonzero(flanked).tolist():
                texts[i] = _DIGITS.sub("0", values[i].as_py())
            blanked = pa.array(texts, pa.string())
        encoded = pc.dictionary_encode(blanked)
        subjects = self.item.subjects
        verdicts = []
        for text in encoded.dictionary.to_pylist():
            verdict = self._guarded.get(text)
            if verdict is None:
                verdict = find_prohibited(text, subjects=subjects) is None
                if len(self._guarded) < 100_000:
                    self._guarded[text] = verdict
            verdicts.append(verdict)
        return _mask(pa.array(verdicts, pa.bool_()).take(encoded.indices))


def _mask(values: Any) -> Any:
    """A boolean Arrow array as a writable numpy array, null read as false."""
    filled = pc.fill_null(values, False)
    return np.array(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _digits_ok(values: Any) -> Any:
    """Per number (null: true): an integer, or a decimal of at most 15 digits."""
    decimal = _mask(pc.match_substring(values, "."))
    if not decimal.any():
        return np.ones(len(values), dtype=bool)
    chars = pc.subtract(pc.utf8_length(values), pc.cast(pc.starts_with(values, "-"), pa.int32()))
    return ~decimal | _mask(pc.less_equal(chars, integer(_DECIMAL_CHARS)))


def _dates_ok(values: Any) -> Any:
    """YYYY-MM-DD (shape already matched): a real date on or after EARLIEST_DATE; null true."""
    present = _mask(pc.is_valid(values))
    text = pc.fill_null(values, "2000-01-01")
    year = _ints(pc.utf8_slice_codeunits(text, 0, 4))
    month = _ints(pc.utf8_slice_codeunits(text, 5, 7))
    day = _ints(pc.utf8_slice_codeunits(text, 8, 10))
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    real = (year >= 1) & month_ok & (day >= 1) & (day <= days)
    return ~present | (real & (year * 10_000 + month * 100 + day >= _EARLIEST))


def _ints(values: Any) -> Any:
    return np.asarray(pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
