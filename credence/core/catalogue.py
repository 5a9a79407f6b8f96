"""The published catalogue: the only kinds of record credence may collect.

Shanghai's credit regulations allow only catalogued items to be collected;
credence enforces that in ingestion, and enforces principle 2 here: an item
in a prohibited category, or without a legal basis or publicity period, is
refused when the catalogue loads, so it can never reach the registry.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from credence.core.canonical import content_hash
from credence.core.ids import SubjectKind
from credence.core.periods import Period
from credence.core.prohibited import check_declared_categories, find_prohibited
from credence.core.yamlfile import LINE_KEY, YamlError, load_yaml, strip_lines

REVOCATION = "revocation"  # reserved item code: a row that withdraws an earlier record
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CODE = re.compile(r"^(administrative|commercial|social|judicial)\.[a-z0-9]+(-[a-z0-9]+)*$")


class Area(StrEnum):
    ADMINISTRATIVE = "administrative"
    COMMERCIAL = "commercial"
    SOCIAL = "social"
    JUDICIAL = "judicial"


class Polarity(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    NEUTRAL = "neutral"


class Severity(StrEnum):
    MINOR = "minor"
    ORDINARY = "ordinary"
    SERIOUS = "serious"


class Visibility(StrEnum):
    PUBLIC = "public"
    RESTRICTED = "restricted"


class AttributeType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"


class AttributeSpec(BaseModel):
    """One attribute a record of this item may carry; undeclared ones are refused.

    A string attribute must say what its values look like, with a `pattern`
    (a regular expression the whole value must match) or a closed list of
    `values`: free text is where a faith, an illness or a relative's name
    would slip in, so it is never accepted as such.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: AttributeType
    required: bool = False
    description: str = ""
    pattern: str | None = None
    values: tuple[str, ...] = ()
    max_length: int = Field(default=200, ge=1, le=2000)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _shape_for_strings(self) -> AttributeSpec:
        if self.type is not AttributeType.STRING and (self.pattern or self.values):
            raise ValueError("'pattern' and 'values' apply only to string attributes")
        if any(not v for v in self.values):
            raise ValueError("'values' must be non-empty strings")
        return self

    @property
    def free_text(self) -> bool:
        """A string attribute with neither a pattern nor a closed vocabulary."""
        return self.type is AttributeType.STRING and self.pattern is None and not self.values

    @functools.cached_property
    def _compiled(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern is not None else None

    @functools.cached_property
    def _vocabulary(self) -> frozenset[str]:
        return frozenset(self.values)

    def fits_pattern(self, value: str) -> bool:
        """Whether the declared pattern matches the whole value (False without one)."""
        compiled = self._compiled
        return compiled is not None and compiled.fullmatch(value) is not None

    def fitting(self, values: Iterable[str]) -> list[str]:
        """The values the declared pattern matches whole (fits_pattern over many, in order)."""
        compiled = self._compiled
        if compiled is None:
            return []
        fullmatch = compiled.fullmatch
        return [value for value in values if fullmatch(value) is not None]

    def string_problem(self, value: str) -> str | None:
        """Why a string value does not fit this attribute's declared shape, or None."""
        if len(value) > self.max_length:
            return f"is longer than {self.max_length} characters"
        if self.values and value in self._vocabulary:
            return None
        compiled = self._compiled
        if compiled is not None and compiled.fullmatch(value):
            return None
        if self.values and compiled is None:
            return "is not one of the values the catalogue declares"
        return "does not match the pattern the catalogue declares"


class CatalogueItem(BaseModel):
    """One kind of record, with the law that allows it and how long it is public."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    title: str = Field(min_length=3)
    area: Area
    subjects: tuple[SubjectKind, ...] = Field(min_length=1)
    polarity: Polarity
    severity: Severity
    legal_basis: str = Field(min_length=5)
    publicity: str
    visibility: Visibility
    description: str = ""
    categories: tuple[str, ...] = ()
    attributes: dict[str, AttributeSpec] = Field(default_factory=dict)

    @field_validator("code")
    @classmethod
    def _code_form(cls, code: str) -> str:
        if not _CODE.match(code):
            raise ValueError(
                "must be '<area>.<name>' with area administrative, commercial, social or "
                "judicial and a lower-case hyphenated name"
            )
        return code

    @model_validator(mode="after")
    def _code_in_area(self) -> CatalogueItem:
        if self.code.split(".", 1)[0] != self.area.value:
            raise ValueError(f"field 'code': must start with its area '{self.area.value}.'")
        return self

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, attributes: dict[str, AttributeSpec]) -> dict[str, AttributeSpec]:
        for name in attributes:
            if not _ATTRIBUTE.match(name):
                raise ValueError(f"attribute name {name!r} must match {_ATTRIBUTE.pattern}")
        return attributes

    @functools.cached_property
    def required_attributes(self) -> tuple[str, ...]:
        return tuple(n for n, spec in self.attributes.items() if spec.required)

    @field_validator("publicity")
    @classmethod
    def _publicity_form(cls, text: str) -> str:
        return str(Period.parse(text))

    @property
    def publicity_period(self) -> Period:
        return Period.parse(self.publicity)

    def applies_to(self, kind: SubjectKind) -> bool:
        return kind in self.subjects


class CatalogueError(ValueError):
    """A catalogue that must not be loaded; the message names file, line and field."""


@dataclass(frozen=True)
class Catalogue:
    """A loaded, validated catalogue: items by code."""

    name: str
    version: str
    items: dict[str, CatalogueItem]
    source_path: str = ""
    lines: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""  # sha256 of the file's canonical JSON; set by parse_catalogue

    @functools.cached_property
    def ref(self) -> dict[str, str]:
        """What every result carries: which catalogue its records were read under.

        One dict per loaded catalogue, shared by every assessment of a run.
        """
        return {"name": self.name, "version": self.version, "hash": self.content_hash}

    def __contains__(self, code: object) -> bool:
        return code in self.items

    def __getitem__(self, code: str) -> CatalogueItem:
        return self.items[code]

    def __len__(self) -> int:
        return len(self.items)

    def match(self, patterns: list[str]) -> list[str]:
        """Codes matching any glob pattern (`judicial.*`), in catalogue order."""
        return [c for c in self.items if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def _field_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return message  # a whole-item check names its field itself
    return f"field '{'.'.join(str(p) for p in err['loc'])}': {message}"


def _check_item(raw: dict[str, Any], where: str) -> CatalogueItem:
    code = raw.get("code", "?")
    try:
        item = CatalogueItem.model_validate(strip_lines(raw))
    except ValidationError as exc:
        raise CatalogueError(f"{where}: item {code!r}: {_field_error(exc)}") from None
    found = check_declared_categories(list(item.categories)) or find_prohibited(
        *_item_texts(item), subjects=item.subjects
    )
    if found:
        raise CatalogueError(f"{where}: item {code!r} {found}")
    for name, spec in item.attributes.items():
        if spec.free_text:
            raise CatalogueError(
                f"{where}: item {code!r}: attribute {name!r} is free text; declare a 'pattern' "
                "its values must match or a closed list of 'values'"
            )
    return item


def _item_texts(item: CatalogueItem) -> list[str]:
    """Every text of an item a prohibited category could hide in."""
    texts = [item.code, item.title, item.description, item.legal_basis]
    for name, spec in item.attributes.items():
        texts += [name, spec.description, spec.pattern or "", *spec.values]
    return texts


def parse_catalogue(data: dict[str, Any], path: str = "<catalogue>") -> Catalogue:
    """Validate catalogue data (as loaded from YAML); raise CatalogueError on the first fault."""
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise CatalogueError(f"{path}: 'items' must be a non-empty list")
    items: dict[str, CatalogueItem] = {}
    lines: dict[str, int] = {}
    for raw in raw_items:
        line = raw.get(LINE_KEY, 0) if isinstance(raw, dict) else 0
        where = f"{path}:{line}"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: each item must be a mapping")
        item = _check_item(raw, where)
        if item.code in items:
            raise CatalogueError(f"{where}: item {item.code!r} is defined twice")
        items[item.code] = item
        lines[item.code] = line
    return Catalogue(
        name=str(data.get("catalogue", Path(path).stem)),
        version=str(data.get("version", "1")),
        items=items,
        source_path=path,
        lines=lines,
        content_hash=content_hash(strip_lines(data)),
    )


def load_catalogue(path: Path) -> Catalogue:
    """Load and validate a catalogue YAML file."""
    try:
        return parse_catalogue(load_yaml(path), str(path))
    except YamlError as exc:
        raise CatalogueError(str(exc)) from None


def default_catalogue_path() -> Path:
    """The catalogue shipped with credence (`credence/catalogues/default.yaml`)."""
    return Path(str(resources.files("credence") / "catalogues" / "default.yaml"))
