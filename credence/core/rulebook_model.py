"""The rulebook's YAML schema, as pydantic models.

A rulebook is data that a policy officer edits and the public reads, so the
schema is strict (unknown keys are refused, not ignored: a misspelt
`duraton` must not silently mean "no duration") and uses plain words.
Cross-references (to catalogue items, to lists) are checked afterwards in
`credence.core.rulebook`, where the catalogue is known.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from credence.core.catalogue import Area, Severity
from credence.core.ids import SubjectKind
from credence.core.periods import Period

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_GRADE = re.compile(r"^[A-Z][A-Z0-9+-]{0,3}$")


def _period(text: str) -> str:
    return str(Period.parse(text))


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError("must be a lower-case hyphenated name such as 'judgment-defaulters'")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ageing(_Strict):
    """How a record's points fade while it is public.

    Neither set: full points for as long as the record is public. `half_life`
    halves the points every period (quantised to whole months of age, so
    every engine computes the same integers); `expires_after` counts full
    points until the period has passed, then none.
    """

    half_life: str | None = None
    expires_after: str | None = None

    _periods = field_validator("half_life", "expires_after")(
        classmethod(lambda cls, v: None if v is None else _period(v))
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Ageing:
        if self.half_life and self.expires_after:
            raise ValueError("give either 'half_life' or 'expires_after', not both")
        if self.half_life and Period.parse(self.half_life).unit not in ("month", "year"):
            raise ValueError("field 'half_life': must be in months or years")
        return self


class PointsRule(_Strict):
    """Points for records of the items matching `item` (a code or a glob)."""

    item: str
    points: int | None = None
    by_severity: dict[Severity, int] | None = None
    ageing: Ageing | None = None
    categories: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _points_given(self) -> PointsRule:
        if (self.points is None) == (self.by_severity is None):
            raise ValueError("give exactly one of 'points' or 'by_severity'")
        return self


class Cap(_Strict):
    """Bounds on the total points one area can contribute."""

    min: int | None = None
    max: int | None = None


class GradeBand(_Strict):
    """A grade and the lowest score that earns it (the last band has no minimum)."""

    grade: str
    min: int | None = None
    title: str = ""

    @field_validator("grade")
    @classmethod
    def _grade_form(cls, grade: str) -> str:
        if not _GRADE.match(grade):
            raise ValueError("must be a short upper-case grade such as 'A' or 'B+'")
        return grade


class ScoreSpec(_Strict):
    """The score: scale, base, points per item, ageing, caps and grades."""

    subjects: tuple[SubjectKind, ...] = Field(min_length=1)
    min: int
    max: int
    base: int
    ageing: Ageing = Ageing()
    caps: dict[Area, Cap] = Field(default_factory=dict)
    points: tuple[PointsRule, ...] = Field(min_length=1)
    grades: tuple[GradeBand, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _scale(self) -> ScoreSpec:
        if not self.min <= self.base <= self.max:
            raise ValueError(
                f"field 'base': {self.base} is outside the scale {self.min}-{self.max}"
            )
        minima = [g.min for g in self.grades]
        if minima[-1] is not None:
            raise ValueError(
                "field 'grades': the last grade takes every lower score; give it no 'min'"
            )
        if any(m is None for m in minima[:-1]):
            raise ValueError("field 'grades': every grade but the last needs a 'min'")
        given = [m for m in minima[:-1] if m is not None]
        if given != sorted(given, reverse=True) or len(set(given)) != len(given):
            raise ValueError("field 'grades': list grades from the highest 'min' down")
        if len({g.grade for g in self.grades}) != len(self.grades):
            raise ValueError("field 'grades': a grade is named twice")
        return self


class ListEntry(_Strict):
    """What puts a subject on a list: a listing record, or a score or grade."""

    records: tuple[str, ...] = ()
    score_below: int | None = None
    grade_in: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> ListEntry:
        given = sum(bool(x) for x in (self.records, self.score_below is not None, self.grade_in))
        if given != 1:
            raise ValueError("give exactly one of 'records', 'score_below' or 'grade_in'")
        return self


class ListExit(_Strict):
    """A record that ends a listing early, linked to it by an attribute (the case)."""

    records: tuple[str, ...] = Field(min_length=1)
    match: str
    within: str = ""  # the legal deadline for removal, shown to people; credence removes at once


class ListExtension(_Strict):
    """A record that extends a listing by a number of units given in one of its attributes."""

    records: tuple[str, ...] = Field(min_length=1)
    match: str
    attribute: str
    max: str

    _max = field_validator("max")(classmethod(lambda cls, v: _period(v)))


class ListSpec(_Strict):
    """A red list (rewards) or black list (restrictions) with entry and exit criteria."""

    name: str
    colour: str
    title: str = Field(min_length=3)
    subjects: tuple[SubjectKind, ...] = Field(min_length=1)
    legal_basis: str = Field(min_length=5)
    entry: ListEntry
    duration: str | None = None
    exit: ListExit | None = None
    extension: ListExtension | None = None
    categories: tuple[str, ...] = ()

    _names = field_validator("name")(classmethod(lambda cls, v: _name(v)))

    @field_validator("colour")
    @classmethod
    def _colour(cls, colour: str) -> str:
        if colour not in ("red", "black"):
            raise ValueError("must be 'red' (rewards) or 'black' (restrictions)")
        return colour

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _period(value)

    @model_validator(mode="after")
    def _record_lists(self) -> ListSpec:
        by_record = bool(self.entry.records)
        if by_record and self.duration is None:
            raise ValueError("field 'duration': a list entered by a record needs a duration")
        if not by_record and (self.duration or self.exit or self.extension):
            raise ValueError(
                "a list entered by score or grade lasts while the condition holds; "
                "'duration', 'exit' and 'extension' apply only to lists entered by a record"
            )
        if self.extension and self.duration:
            by_days = Period.parse(self.extension.max).unit in ("day", "week")
            if by_days != (Period.parse(self.duration).unit in ("day", "week")):
                raise ValueError("field 'extension.max': use calendar units like the duration's")
        return self


class MeasureWhen(_Strict):
    """What triggers a measure: list membership, or a score or grade condition."""

    list: str | None = None
    score_at_least: int | None = None
    score_below: int | None = None
    grade_in: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> MeasureWhen:
        given = (self.list, self.score_at_least, self.score_below, self.grade_in or None)
        if sum(x is not None for x in given) != 1:
            raise ValueError(
                "give exactly one of 'list', 'score_at_least', 'score_below' or 'grade_in'"
            )
        return self


class MeasureKind(StrEnum):
    REWARD = "reward"
    RESTRICTION = "restriction"


class MeasureSpec(_Strict):
    """A joint reward or restriction that other agencies apply, and for what purposes."""

    name: str
    kind: MeasureKind
    title: str = Field(min_length=3)
    when: MeasureWhen
    subjects: tuple[SubjectKind, ...] = ()
    legal_basis: str = Field(min_length=5)
    agencies: tuple[str, ...] = Field(min_length=1)
    purposes: tuple[str, ...] = Field(min_length=1)
    categories: tuple[str, ...] = ()

    _names = field_validator("name")(classmethod(lambda cls, v: _name(v)))

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, purposes: tuple[str, ...]) -> tuple[str, ...]:
        for purpose in purposes:
            _name(purpose)
        return purposes


class RulebookSpec(_Strict):
    """A whole rulebook file."""

    rulebook: str
    version: str
    title: str = Field(min_length=3)
    description: str = ""
    catalogue: str = "default"
    # The content hash of the catalogue the rules were written against: with it, a
    # rulebook cannot silently run on a catalogue whose items have since changed.
    catalogue_hash: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    publicity: dict[str, str] = Field(default_factory=dict)
    score: ScoreSpec | None = None
    lists: tuple[ListSpec, ...] = ()
    measures: tuple[MeasureSpec, ...] = ()
    categories: tuple[str, ...] = ()

    _names = field_validator("rulebook")(classmethod(lambda cls, v: _name(v)))

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> str:
        return str(value)

    @field_validator("publicity")
    @classmethod
    def _publicity(cls, value: dict[str, str]) -> dict[str, str]:
        return {code: _period(text) for code, text in value.items()}

    @model_validator(mode="after")
    def _something(self) -> RulebookSpec:
        if self.score is None and not self.lists:
            raise ValueError("a rulebook needs a 'score' or at least one list")
        return self
