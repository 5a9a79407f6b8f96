"""Builders shared by the rulebook tests: subjects, record rows, presets, YAML files."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any

from credence.core.catalogue import (
    AttributeSpec,
    AttributeType,
    Catalogue,
    default_catalogue_path,
    load_catalogue,
)
from credence.core.rulebook import Rulebook, load_rulebook, resolve_rulebook_path

# Ingestion refuses dates in the future; the tests' records are dated up to 2029.
INGEST_TODAY = dt.date(2030, 1, 1)
ALL_SOURCE = "all"


@functools.cache
def catalogue() -> Catalogue:
    """The shipped default catalogue (what every preset names)."""
    return load_catalogue(default_catalogue_path())


@functools.cache
def preset(name: str) -> Rulebook:
    """A shipped preset rulebook, loaded once per test run."""
    return load_rulebook(resolve_rulebook_path(name), catalogue())


def _placeholder(spec: AttributeSpec, reference: str) -> Any:
    """A value of the attribute's type and declared shape (the first declared value)."""
    kind = spec.type
    if spec.values:
        return spec.values[0]
    if spec.pattern and not re.fullmatch(spec.pattern, reference):
        return f"{reference}1"  # references like "L-1" already fit a document-number pattern
    if kind is AttributeType.INTEGER:
        return 1
    if kind is AttributeType.NUMBER:
        return 100
    if kind is AttributeType.BOOLEAN:
        return True
    if kind is AttributeType.DATE:
        return "2020-01-01"
    return reference


def rec(
    item: str,
    subject: str,
    on: str,
    ref: str,
    *,
    decided: str | None = None,
    corrects: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """A record row; the item's required attributes are filled in unless given."""
    row: dict[str, Any] = {"item": item, "subject": subject, "occurred_on": on, "reference": ref}
    if decided is not None:
        row["decided_on"] = decided
    if corrects is not None:
        row["corrects"] = corrects
    if item != "revocation":
        spec = catalogue()[item]
        attrs = {
            name: _placeholder(spec.attributes[name], ref) for name in spec.required_attributes
        }
        attrs.update(attributes)
        if attrs:
            row["attributes"] = attrs
    return row


def write_rulebook(tmp_path: Path, text: str, name: str = "book.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of `text` containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]
