"""Policy simulation: what a rule change would do, counted before it goes live.

Compares two assessments of the same subjects (under the current rulebook
and the proposed one) and counts grade transitions, list entries and exits,
and measures gained and lost, by subject kind and province, so that a
change's effect on people and regions is visible before anyone feels it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from credence.core.assessment import Assessment, subject_kind, subject_region

# GB/T 2260 province-level codes: the first two digits of a resident ID's region.
PROVINCES = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia",
    "21": "Liaoning", "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu",
    "33": "Zhejiang", "34": "Anhui", "35": "Fujian", "36": "Jiangxi", "37": "Shandong",
    "41": "Henan", "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi",
    "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou", "53": "Yunnan",
    "54": "Tibet", "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia",
    "65": "Xinjiang", "71": "Taiwan", "81": "Hong Kong", "82": "Macao",
}  # fmt: skip

NONE = "-"  # no grade: not scored, or not assessed under that rulebook


def region_name(subject: str) -> str:
    code = subject_region(subject)
    return PROVINCES.get(code, code or "unknown")


@dataclass
class Simulation:
    """Counts of what changes between the current and the proposed rulebook."""

    subjects: Counter[str] = field(default_factory=Counter)  # by kind
    changed: Counter[str] = field(default_factory=Counter)  # by kind: any outcome differs
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    lists_entered: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    lists_left: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    measures_gained: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    measures_lost: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    ledger: dict[str, Any] | None = None  # the signed head both sides were scored on

    def add(self, current: Assessment | None, proposed: Assessment | None) -> None:
        """Count one subject (either side may be missing: not assessed by that rulebook)."""
        some = current or proposed
        assert some is not None
        kind = subject_kind(some.subject).value
        region = region_name(some.subject)
        self.subjects[kind] += 1
        old_grade = (current.grade if current else None) or NONE
        new_grade = (proposed.grade if proposed else None) or NONE
        self.transitions[(kind, old_grade, new_grade)] += 1
        old_lists = {x.list for x in current.lists} if current else set()
        new_lists = {x.list for x in proposed.lists} if proposed else set()
        old_measures = set(current.measures) if current else set()
        new_measures = set(proposed.measures) if proposed else set()
        for name in new_lists - old_lists:
            self.lists_entered[(name, kind, region)] += 1
        for name in old_lists - new_lists:
            self.lists_left[(name, kind, region)] += 1
        for name in new_measures - old_measures:
            self.measures_gained[(name, kind, region)] += 1
        for name in old_measures - new_measures:
            self.measures_lost[(name, kind, region)] += 1
        if (old_grade, old_lists, old_measures) != (new_grade, new_lists, new_measures):
            self.changed[kind] += 1

    def add_all(self, current: list[Assessment], proposed: list[Assessment]) -> None:
        """Count a group of subjects, pairing the two sides by subject."""
        old = {a.subject: a for a in current}
        new = {a.subject: a for a in proposed}
        for subject in sorted(old.keys() | new.keys()):
            self.add(old.get(subject), new.get(subject))
