"""Loading a rulebook: schema, references to the catalogue, the prohibited guard, a hash.

The schema (`rulebook_model`) says what a rulebook may contain; this module
resolves it against the catalogue it names, refusing anything a person could
not defend: a rule on an item that is not catalogued, two rules for the same
item, a publicity period longer than the law's, a list or measure whose
names reveal a prohibited category (the same guard as the catalogue's). The
result, `Rulebook`, carries a content hash that every assessment repeats, so
any score can be traced to the exact rules that made it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from credence.core.canonical import content_hash as canonical_content_hash
from credence.core.catalogue import Area, AttributeType, Catalogue, CatalogueItem, Polarity
from credence.core.ids import SubjectKind
from credence.core.periods import Period
from credence.core.prohibited import check_declared_categories, find_prohibited
from credence.core.rulebook_model import (
    Ageing,
    ListSpec,
    MeasureSpec,
    RulebookSpec,
    ScoreSpec,
)
from credence.core.yamlfile import (
    KEY_LINES,
    LINE_KEY,
    YamlError,
    parse_yaml,
    read_yaml_text,
    strip_lines,
)

# Dates on which to compare two calendar periods (month ends and a leap day).
_PROBE_DAYS = (dt.date(2000, 1, 31), dt.date(2000, 2, 29), dt.date(2001, 3, 1))


class RulebookError(ValueError):
    """A rulebook that must not be used; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class ItemRule:
    """The points one catalogue item scores, and how they age."""

    code: str
    area: Area
    points: int
    ageing: Ageing


@dataclass(frozen=True)
class ResolvedList:
    """A list with its record criteria expanded to catalogue codes."""

    spec: ListSpec
    entry_items: tuple[str, ...]
    exit_items: tuple[str, ...]
    extension_items: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def by_record(self) -> bool:
        return bool(self.entry_items)


@dataclass(frozen=True)
class Rulebook:
    """A validated rulebook bound to its catalogue."""

    spec: RulebookSpec
    catalogue: Catalogue
    content_hash: str
    path: str
    item_rules: dict[str, ItemRule] = field(default_factory=dict)
    publicity: dict[str, Period] = field(default_factory=dict)
    lists: dict[str, ResolvedList] = field(default_factory=dict)
    measures: dict[str, MeasureSpec] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.rulebook

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def score(self) -> ScoreSpec | None:
        return self.spec.score

    @functools.cached_property
    def ref(self) -> dict[str, str]:
        """What every result carries: which rules made it."""
        return {"name": self.name, "version": self.version, "content_hash": self.content_hash}

    @property
    def kinds(self) -> tuple[SubjectKind, ...]:
        """The kinds of subject this rulebook assesses at all."""
        kinds: set[SubjectKind] = set(self.score.subjects) if self.score else set()
        for lst in self.lists.values():
            kinds.update(lst.spec.subjects)
        return tuple(k for k in SubjectKind if k in kinds)

    def scores(self, kind: SubjectKind) -> bool:
        return self.score is not None and kind in self.score.subjects

    def grade_for(self, score: int) -> str:
        """The grade band of an integer score (the first whose minimum it reaches)."""
        assert self.score is not None
        for band in self.score.grades:
            if band.min is None or score >= band.min:
                return band.grade
        raise AssertionError("the last grade band has no minimum")


# --- errors with lines ---------------------------------------------------------------------


def _line_at(data: Any, loc: Sequence[int | str]) -> int:
    """The line of the innermost mapping on the path `loc` into the raw YAML data."""
    line = data.get(LINE_KEY, 0) if isinstance(data, dict) else 0
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not in_list and not (isinstance(node, dict) and part in node):
            break
        if isinstance(node, dict):
            line = node.get(KEY_LINES, {}).get(part, line)
        node = node[part]
        if isinstance(node, dict):
            line = node.get(LINE_KEY, line)
        elif isinstance(node, list) and node and isinstance(node[0], dict):
            line = node[0].get(LINE_KEY, line)  # a list: the line of its first entry
    return int(line)


def _schema_error(exc: ValidationError, data: dict[str, Any], path: str) -> RulebookError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if isinstance(p, int | str)]
    message = str(err["msg"]).removeprefix("Value error, ")
    named = re.match(r"field '([a-z_.]+)'", message)
    if named:  # a whole-model check that names its field: point at that field's line
        loc = [*loc, *named.group(1).split(".")]
    where = ".".join(str(p) for p in loc)
    field_part = f"field '{where}': " if where and not message.startswith("field ") else ""
    return RulebookError(f"{path}:{_line_at(data, loc)}: {field_part}{message}")


class _Context:
    """Where the rulebook came from, for errors that point at a line."""

    def __init__(self, data: dict[str, Any], path: str, catalogue: Catalogue) -> None:
        self.data = data
        self.path = path
        self.catalogue = catalogue

    def fail(self, loc: Sequence[int | str], message: str) -> RulebookError:
        return RulebookError(f"{self.path}:{_line_at(self.data, loc)}: {message}")

    def guard(
        self,
        loc: Sequence[int | str],
        categories: Iterable[str],
        name: str,
        *texts: str,
        subjects: Iterable[str] | None = None,
    ) -> None:
        """Refuse a rule, list or measure whose declared categories or words are prohibited."""
        found = check_declared_categories(list(categories)) or find_prohibited(
            name, *texts, subjects=subjects
        )
        if found:
            what = {"lists": "list", "measures": "measure", "score": "rule"}.get(
                str(loc[0]) if loc else "", "rulebook"
            )
            raise self.fail(loc, f"{what} '{name}' {found}")

    def items(self, loc: Sequence[int | str], patterns: Iterable[str]) -> tuple[str, ...]:
        """Catalogue codes matching `patterns`; each pattern must match something."""
        codes: list[str] = []
        for pattern in patterns:
            self.guard(loc, (), pattern)
            found = [c for c in self.catalogue.items if fnmatch.fnmatchcase(c, pattern)]
            if not found:
                raise self.fail(
                    loc, f"'{pattern}' is not an item of catalogue '{self.catalogue.name}'"
                )
            codes.extend(c for c in found if c not in codes)
        return tuple(codes)


# --- resolution ----------------------------------------------------------------------------


def _resolve_points(ctx: _Context, score: ScoreSpec) -> dict[str, ItemRule]:
    rules: dict[str, ItemRule] = {}
    for i, rule in enumerate(score.points):
        loc: list[int | str] = ["score", "points", i]
        ctx.guard(loc, rule.categories, rule.item, subjects=score.subjects)
        codes = ctx.items(loc, [rule.item])
        is_glob = any(ch in rule.item for ch in "*?[")
        applicable = [
            c for c in codes if any(ctx.catalogue[c].applies_to(k) for k in score.subjects)
        ]
        if not applicable or (not is_glob and len(applicable) < len(codes)):
            raise ctx.fail(loc, f"'{rule.item}' applies to none of the scored subjects")
        new = [c for c in applicable if c not in rules]
        if not new:
            raise ctx.fail(loc, f"every item '{rule.item}' matches is scored by an earlier rule")
        for code in new:
            item = ctx.catalogue[code]
            if rule.by_severity is not None:
                if item.severity not in rule.by_severity:
                    raise ctx.fail(
                        loc, f"item '{code}' is {item.severity.value}; 'by_severity' has no points"
                    )
                points = rule.by_severity[item.severity]
            else:
                assert rule.points is not None
                points = rule.points
            _check_sign(ctx, loc, item, points)
            rules[code] = ItemRule(code, item.area, points, rule.ageing or score.ageing)
    return rules


def _check_sign(ctx: _Context, loc: list[int | str], item: CatalogueItem, points: int) -> None:
    """Points must go the way the catalogue says the item goes: a slip of sign is a real harm."""
    wrong = (
        (item.polarity is Polarity.NEGATIVE and points > 0)
        or (item.polarity is Polarity.POSITIVE and points < 0)
        or (item.polarity is Polarity.NEUTRAL and points != 0)
    )
    if wrong:
        raise ctx.fail(
            loc,
            f"item '{item.code}' is {item.polarity.value} in the catalogue; {points} points"
            " goes the wrong way",
        )


def _resolve_publicity(ctx: _Context, spec: RulebookSpec) -> dict[str, Period]:
    periods = {code: item.publicity_period for code, item in ctx.catalogue.items.items()}
    for code, text in spec.publicity.items():
        loc = ["publicity", code]
        for matched in ctx.items(loc, [code]):
            law = ctx.catalogue[matched].publicity_period
            mine = Period.parse(text)
            if any(mine.add_to(day) > law.add_to(day) for day in _PROBE_DAYS):
                raise ctx.fail(
                    loc,
                    f"publicity of '{matched}' is {law} in the catalogue; "
                    f"a rulebook may shorten it but not extend it to {mine}",
                )
            periods[matched] = mine
    return periods


def _check_match(ctx: _Context, loc: list[int | str], codes: Iterable[str], attr: str) -> None:
    for code in codes:
        if attr not in ctx.catalogue[code].attributes:
            raise ctx.fail(loc, f"item '{code}' has no attribute '{attr}' to match on")


def _resolve_list(ctx: _Context, i: int, lst: ListSpec) -> ResolvedList:
    loc: list[int | str] = ["lists", i]
    ctx.guard(loc, lst.categories, lst.name, lst.title, lst.legal_basis, subjects=lst.subjects)
    entry = ctx.items([*loc, "entry"], lst.entry.records)
    exits: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    if lst.exit:
        exits = ctx.items([*loc, "exit"], lst.exit.records)
        _check_match(ctx, [*loc, "exit"], (*entry, *exits), lst.exit.match)
    if lst.extension:
        ext = lst.extension
        extensions = ctx.items([*loc, "extension"], ext.records)
        _check_match(ctx, [*loc, "extension"], (*entry, *extensions), ext.match)
        for code in extensions:
            spec = ctx.catalogue[code].attributes.get(ext.attribute)
            if spec is None or spec.type is not AttributeType.INTEGER:
                raise ctx.fail(
                    [*loc, "extension"],
                    f"item '{code}' has no integer attribute '{ext.attribute}' for the extension",
                )
    score = ctx.data.get("score")
    grades = [g.get("grade") for g in score.get("grades", [])] if isinstance(score, dict) else []
    if (lst.entry.score_below is not None or lst.entry.grade_in) and score is None:
        raise ctx.fail([*loc, "entry"], "a list entered by score or grade needs a 'score'")
    for grade in lst.entry.grade_in:
        if grade not in grades:
            raise ctx.fail([*loc, "entry"], f"grade '{grade}' is not one of the score's grades")
    return ResolvedList(lst, entry, exits, extensions)


def _check_measure(ctx: _Context, i: int, measure: MeasureSpec, spec: RulebookSpec) -> None:
    loc: list[int | str] = ["measures", i]
    texts = (measure.title, measure.legal_basis, *measure.agencies, *measure.purposes)
    subjects = measure.subjects or _list_subjects(spec, measure.when.list)
    ctx.guard(loc, measure.categories, measure.name, *texts, subjects=subjects)
    when = measure.when
    if when.list is not None and when.list not in {lst.name for lst in spec.lists}:
        raise ctx.fail([*loc, "when"], f"list '{when.list}' is not defined in this rulebook")
    if when.list is None and spec.score is None:
        raise ctx.fail([*loc, "when"], "a measure on score or grade needs a 'score'")
    if spec.score is not None:
        grades = {g.grade for g in spec.score.grades}
        for grade in when.grade_in:
            if grade not in grades:
                raise ctx.fail([*loc, "when"], f"grade '{grade}' is not one of the score's grades")


def _list_subjects(spec: RulebookSpec, name: str | None) -> tuple[str, ...] | None:
    """A measure without its own subjects applies to those of the list that triggers it."""
    return next((tuple(lst.subjects) for lst in spec.lists if lst.name == name), None)


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 of the rulebook's canonical JSON (RFC 8785): layout and comments do not count."""
    return canonical_content_hash(strip_lines(data))


def parse_rulebook(
    data: dict[str, Any], catalogue: Catalogue, path: str = "<rulebook>"
) -> Rulebook:
    """Validate rulebook data (as loaded from YAML) against `catalogue`."""
    try:
        spec = RulebookSpec.model_validate(strip_lines(data))
    except ValidationError as exc:
        raise _schema_error(exc, data, path) from None
    ctx = _Context(data, path, catalogue)
    grades = [g.title for g in spec.score.grades] if spec.score else []
    ctx.guard([], spec.categories, spec.rulebook, spec.title, *grades)  # not the description:
    # it may say what the rulebook leaves out and why (suining-2010 does)
    if spec.catalogue != catalogue.name:
        raise ctx.fail(
            [], f"field 'catalogue': rulebook is for '{spec.catalogue}', loaded '{catalogue.name}'"
        )
    if spec.catalogue_hash is not None and spec.catalogue_hash != catalogue.content_hash:
        raise ctx.fail(
            ["catalogue_hash"],
            f"field 'catalogue_hash': rulebook was written for catalogue '{spec.catalogue}' "
            f"{spec.catalogue_hash}, but the loaded catalogue '{catalogue.name}' "
            f"{catalogue.version} is {catalogue.content_hash}",
        )
    item_rules = _resolve_points(ctx, spec.score) if spec.score else {}
    names = [lst.name for lst in spec.lists]
    for name in names:
        if names.count(name) > 1:
            raise ctx.fail(["lists"], f"list '{name}' is defined twice")
    lists = {lst.name: _resolve_list(ctx, i, lst) for i, lst in enumerate(spec.lists)}
    measures: dict[str, MeasureSpec] = {}
    for i, measure in enumerate(spec.measures):
        _check_measure(ctx, i, measure, spec)
        if measure.name in measures:
            raise ctx.fail(["measures", i], f"measure '{measure.name}' is defined twice")
        measures[measure.name] = measure
    return Rulebook(
        spec=spec,
        catalogue=catalogue,
        content_hash=content_hash(data),
        path=path,
        item_rules=item_rules,
        publicity=_resolve_publicity(ctx, spec),
        lists=lists,
        measures=measures,
    )


def load_rulebook(path: Path, catalogue: Catalogue) -> Rulebook:
    """Load and validate a rulebook YAML file."""
    return load_rulebook_text(read_rulebook_text(path), catalogue, str(path))


def read_rulebook_text(path: Path) -> str:
    """A rulebook file's text, within the YAML limits: what a publication keeps verbatim."""
    try:
        return read_yaml_text(path)
    except YamlError as exc:
        raise RulebookError(str(exc)) from None


def load_rulebook_text(text: str, catalogue: Catalogue, where: str = "<rulebook>") -> Rulebook:
    """Validate a rulebook from its YAML text (a published one is kept as text, not a file)."""
    try:
        data = parse_yaml(text, where)
    except YamlError as exc:
        raise RulebookError(str(exc)) from None
    return parse_rulebook(data, catalogue, where)


def presets_dir() -> Path:
    """The presets shipped with credence (`credence/rulebooks/`)."""
    return Path(str(resources.files("credence") / "rulebooks"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def resolve_rulebook_path(name_or_file: str) -> Path:
    """A preset name (`gov-default`) or a path to a YAML file."""
    preset = presets_dir() / f"{name_or_file}.yaml"
    if "/" not in name_or_file and not name_or_file.endswith((".yaml", ".yml")):
        if preset.exists():
            return preset
        raise RulebookError(
            f"no preset rulebook '{name_or_file}' (presets: {', '.join(preset_names())}); "
            "give a preset name or a .yaml file"
        )
    return Path(name_or_file)
