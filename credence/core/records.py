"""Records: validated submissions, and the checks that turn a raw row into one.

A record is an authority's decision about one subject under one catalogue
item. It is immutable: a correction or revocation is a new record that names
the old one (`corrects`). Validation here is pure (no I/O) so that every
reader (CSV, JSONL, Parquet, later HTTP) applies exactly the same rules, and
every rejection names the field and the reason, so the source can fix it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, NamedTuple

import orjson

from credence.core.canonical import canonical_json, fast_json, normalise_number
from credence.core.catalogue import (
    REVOCATION,
    AttributeSpec,
    AttributeType,
    Catalogue,
    CatalogueItem,
)
from credence.core.guard import find_prohibited
from credence.core.ids import SUBJECT_MAX_LENGTH, InvalidSubject, SubjectKind, parse_subject
from credence.core.jsontext import has_duplicate_keys

REQUIRED_FIELDS = ("item", "subject", "occurred_on", "reference")
OPTIONAL_FIELDS = ("decided_on", "attributes", "corrects")
RECORD_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces (fullmatch)
# Leading characters that make a spreadsheet run a cell as a formula (OWASP CSV
# injection): a reference is shown to people in exports, so it may not start so.
FORMULA_START = ("=", "+", "-", "@")
# The longest value of each text field, trimmed; the store's columns are exactly
# this wide (credence/store/schema.py imports it), so validation and every store agree.
FIELD_MAX_LENGTHS = {
    "item": 64,
    "subject": SUBJECT_MAX_LENGTH,
    "occurred_on": 10,
    "reference": 128,
    "decided_on": 10,
    "corrects": 128,
}
_DATE_FIELDS = frozenset({"occurred_on", "decided_on"})
_FIELD_LIMITS = tuple(  # required fields first: "is required" wins over other problems
    (name, FIELD_MAX_LENGTHS[name], name in REQUIRED_FIELDS)
    for name in sorted(FIELD_MAX_LENGTHS, key=lambda n: n not in REQUIRED_FIELDS)
)
# The founding of the PRC: no record, and no dated attribute, is from before it.
EARLIEST_DATE = dt.date(1949, 10, 1)
_EARLIEST_ISO = EARLIEST_DATE.isoformat()
# Attributes as JSON text: measured before parsing, so a deep or huge value costs nothing.
MAX_ATTRIBUTES_CHARS = 4096
_SUBJECT_CACHE_LIMIT = 2_000_000
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat also takes 2024-W01-1


class Record(NamedTuple):
    """One accepted submission, in canonical form (not yet in the ledger).

    A NamedTuple rather than a frozen dataclass: equally read-only, and it is
    built once per ingested row, where a dataclass's __init__ costs 3x more.
    """

    source: str
    reference: str
    item: str
    subject: str
    occurred_on: str  # ISO date
    decided_on: str | None
    attributes_json: str | None  # canonical JSON object, or None when empty
    corrects: str | None  # the source's reference of the record this replaces

    @property
    def is_revocation(self) -> bool:
        return self.item == REVOCATION

    def content(self) -> bytes:
        """RFC 8785 bytes of the whole record: what the ledger's record hash commits to.

        Built by hand in sorted key order for speed; identical to
        `canonical_json(self.to_dict())`, which the tests check.
        """
        parts = []
        if self.attributes_json is not None:
            parts.append(f'"attributes":{self.attributes_json}')
        if self.corrects is not None:
            parts.append(f'"corrects":{encode_basestring(self.corrects)}')
        if self.decided_on is not None:
            parts.append(f'"decided_on":"{self.decided_on}"')
        parts.append(f'"item":"{self.item}"')
        parts.append(f'"occurred_on":"{self.occurred_on}"')
        parts.append(f'"reference":{encode_basestring(self.reference)}')
        parts.append(f'"source":"{self.source}"')
        parts.append(f'"subject":{encode_basestring(self.subject)}')
        return ("{" + ",".join(parts) + "}").encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON values (None fields omitted)."""
        out: dict[str, Any] = {
            "source": self.source,
            "reference": self.reference,
            "item": self.item,
            "subject": self.subject,
            "occurred_on": self.occurred_on,
        }
        if self.decided_on is not None:
            out["decided_on"] = self.decided_on
        if self.attributes_json is not None:
            out["attributes"] = json.loads(self.attributes_json)
        if self.corrects is not None:
            out["corrects"] = self.corrects
        return out


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a row was refused: the field at fault and a reason a person can act on."""

    field: str
    reason: str


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class RowValidator:
    """Validates raw rows for one source against the catalogue.

    Subject checks are cached: a registry sees the same subjects many times
    and the resident-ID region lookup is the most expensive check there is.
    """

    def __init__(
        self, catalogue: Catalogue, source: str, allowed: set[str], today: dt.date
    ) -> None:
        self.catalogue = catalogue
        self.source = source
        self.allowed = allowed
        self.today = today
        self._today_iso = today.isoformat()
        # Caches: subjects and dates repeat across rows, and their checks dominate.
        self._subjects: dict[str, tuple[str, SubjectKind] | str] = {}
        self._dates: dict[str, str | None] = {}

    def validate(self, row: Mapping[str, Any]) -> Record | Rejection:
        """Return the canonical Record for `row`, or the first Rejection found."""
        get = row.get
        problem = _field_problem(row)
        if problem is not None:
            return problem
        item_code = str(row["item"]).strip()
        corrects = get("corrects")
        corrects = None if _blank(corrects) else str(corrects).strip()
        item = self._check_item(item_code, corrects)
        if isinstance(item, Rejection):
            return item
        subject = self._subject(str(row["subject"]))
        if isinstance(subject, str):
            return Rejection("subject", subject)
        if item is not None and subject[1] not in item.subjects:
            return Rejection("subject", f"item {item_code} does not apply to a {subject[1].value}")
        occurred = self._date(row["occurred_on"], "occurred_on")
        if isinstance(occurred, Rejection):
            return occurred
        decided: str | None = None
        if not _blank(get("decided_on")):
            checked = self._date(row["decided_on"], "decided_on")
            if isinstance(checked, Rejection):
                return checked
            if checked < occurred:
                return Rejection("decided_on", f"{checked} is before occurred_on {occurred}")
            decided = checked
        reference = str(row["reference"]).strip()
        for name, ref in (("reference", reference), ("corrects", corrects)):
            ref_problem = None if ref is None else _reference_problem(ref)
            if ref_problem is not None:
                return Rejection(name, ref_problem)
        attributes = get("attributes")
        if not _blank(attributes) or (item is not None and item.attributes):
            attributes = self._attributes(attributes, item)
            if isinstance(attributes, Rejection):
                return attributes
        else:
            attributes = None
        return Record(
            self.source, reference, item_code, subject[0], occurred, decided, attributes, corrects
        )

    def _check_item(self, code: str, corrects: str | None) -> CatalogueItem | Rejection | None:
        if code == REVOCATION:
            if corrects is None:
                return Rejection("corrects", "a revocation must name the record it withdraws")
            return None
        item = self.catalogue.items.get(code)
        if item is None:
            return Rejection("item", f"{code!r} is not in the catalogue")
        if code not in self.allowed:
            return Rejection("item", f"source {self.source!r} may not submit {code}")
        return item

    def _subject(self, key: str) -> tuple[str, SubjectKind] | str:
        found = self._subjects.get(key)
        if found is None:
            try:
                parsed = parse_subject(key, self.today)
                found = (str(parsed), parsed.kind)
            except InvalidSubject as exc:
                found = str(exc)
            if len(self._subjects) >= _SUBJECT_CACHE_LIMIT:
                self._subjects.clear()  # bounded memory whatever the file size
            self._subjects[key] = found
        return found

    def _date(self, value: Any, name: str) -> str | Rejection:
        if isinstance(value, dt.datetime):
            value = value.date()
        text = value.isoformat() if isinstance(value, dt.date) else str(value).strip()
        if text in self._dates:
            problem = self._dates[text]
        else:
            problem = self._date_problem(text)
            if len(self._dates) < 100_000:
                self._dates[text] = problem
        return Rejection(name, problem) if problem else text

    def _date_problem(self, text: str) -> str | None:
        problem = _iso_date_problem(text)
        if problem is None and text > self._today_iso:
            return f"{text} is in the future"
        return problem

    def _attributes(self, value: Any, item: CatalogueItem | None) -> str | Rejection | None:
        """Catalogued attributes only, type-checked, as canonical JSON (None when empty).

        Attribute names are catalogue identifiers (ASCII), so the fast JSON
        encoder is already RFC 8785 unless a value is a non-integral float.
        """
        if _blank(value):
            value = {}
        if isinstance(value, str):
            if len(value) > MAX_ATTRIBUTES_CHARS:
                return Rejection("attributes", f"is longer than {MAX_ATTRIBUTES_CHARS} characters")
            text = value
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                return Rejection("attributes", f"is not valid JSON: {exc.msg}")
            if isinstance(value, dict) and has_duplicate_keys(text, value):
                return Rejection("attributes", "a key appears twice in the object")
        if not isinstance(value, dict):
            return Rejection("attributes", "must be a JSON object")
        specs = item.attributes if item is not None else {}
        clean: dict[str, Any] = {}
        exact = True
        for name, raw in value.items():
            spec = specs.get(name)
            if spec is None:
                return Rejection(f"attributes.{name}", "is not declared in the catalogue item")
            if raw is None:
                continue
            if spec.type is AttributeType.STRING and raw.__class__ is str and raw:
                problem = _string_problem(raw, spec, item)
                if problem is not None:
                    return Rejection(f"attributes.{name}", problem)
                clean[name] = raw
                continue
            checked = _check_attribute(raw, spec.type)
            if isinstance(checked, str):
                return Rejection(f"attributes.{name}", checked)
            clean[name] = checked[0]
            exact = exact and not isinstance(checked[0], float)
        if item is not None and item.required_attributes:
            for name in item.required_attributes:
                if name not in clean:
                    return Rejection(f"attributes.{name}", "is required for this item")
        if not clean:
            return None
        return fast_json(clean) if exact else canonical_json(clean).decode("utf-8")


def _field_problem(row: Mapping[str, Any]) -> Rejection | None:
    """The first required field missing, or text field of the wrong type or too long.

    Runs before any other check, so no later message quotes a huge value,
    and a Parquet NaN or number is refused rather than stored as "nan".
    """
    get = row.get
    for name, limit, required in _FIELD_LIMITS:
        value = get(name)
        if isinstance(value, str):  # the common case, first
            if required and (not value or value.isspace()):
                return Rejection(name, "is required")
            if len(value) > limit and len(value.strip()) > limit:
                return Rejection(name, f"is longer than {limit} characters")
        elif value is None:
            if required:
                return Rejection(name, "is required")
        elif not (name in _DATE_FIELDS and isinstance(value, dt.date)):
            return Rejection(name, f"must be text, not {_type_name(value)}")
    return None


def _type_name(value: Any) -> str:
    if isinstance(value, float) and value != value:
        return "a number (NaN)"
    return type(value).__name__


def _reference_problem(text: str) -> str | None:
    if not _REFERENCE.fullmatch(text):
        return "must be 1-128 printable ASCII characters, no spaces"
    if text.startswith(FORMULA_START):
        return "must not start with =, +, - or @ (spreadsheet formula characters)"
    return None


def _iso_date_problem(text: str) -> str | None:
    """Why `text` is not a YYYY-MM-DD date on or after EARLIEST_DATE, or None."""
    if not _ISO_DATE.fullmatch(text):
        return f"{text!r} is not a date (YYYY-MM-DD)"
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return f"{text} is not a date"
    if text < _EARLIEST_ISO:
        return f"{text} is before {_EARLIEST_ISO}, the earliest date credence accepts"
    return None


_DIGITS = re.compile(r"(?<![A-Za-z])[0-9]+|[0-9]+(?![A-Za-z])")


def _string_problem(value: str, spec: AttributeSpec, item: CatalogueItem | None) -> str | None:
    """Why a string value is refused: outside its declared shape, or prohibited.

    The guard runs on the value with its numbers blanked (digits inside a
    word are kept, they may spell one): case and decision numbers then
    share a few shapes, so the guard's cache makes this nearly free.
    """
    problem = spec.string_problem(value)
    if problem is not None:
        return problem
    found = find_prohibited(
        _DIGITS.sub("0", value), subjects=item.subjects if item is not None else None
    )
    return str(found) if found is not None else None


def _check_attribute(value: Any, kind: AttributeType) -> tuple[Any] | str:
    """The attribute in canonical form (wrapped in a tuple), or why it is refused."""
    if kind is AttributeType.STRING:
        return (value,) if isinstance(value, str) and value else "must be a non-empty string"
    if kind is AttributeType.BOOLEAN:
        return (value,) if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool):
        return f"must be {'an integer' if kind is AttributeType.INTEGER else 'a number'}"
    if kind is AttributeType.DATE:
        if not isinstance(value, str):
            return "must be a date (YYYY-MM-DD)"
        problem = _iso_date_problem(value)
        return (value,) if problem is None else problem
    if isinstance(value, float) and kind is AttributeType.NUMBER:
        if value != value or value in (float("inf"), float("-inf")):
            return "must be a finite number"
        if abs(value) >= 2**53:  # beyond exact integers: the value stored would differ
            return "must be between -2^53 and 2^53"
        return (normalise_number(value),)
    if isinstance(value, int) and abs(value) < 2**53:
        return (value,)
    return f"must be {'an integer' if kind is AttributeType.INTEGER else 'a number'}"
