"""The synthetic city's sixteen districts, shared by IDs, records and document texts.

The city is Beijing-shaped because its district and court codes make
plausible case numbers. One table holds what each district contributes
(region code for USCCs and licences, court code for case numbers, names for
authorities), so a subject's registration, a record's court and the texts
that cite them stay consistent with each other.
"""

from __future__ import annotations

import numpy as np

# Region code, court code, district name, one-character abbreviation, weight.
DISTRICTS: tuple[tuple[str, str, str, str, float], ...] = (
    ("110101", "京0101", "东城区", "东", 0.04),
    ("110102", "京0102", "西城区", "西", 0.05),
    ("110105", "京0105", "朝阳区", "朝", 0.16),
    ("110106", "京0106", "丰台区", "丰", 0.09),
    ("110107", "京0107", "石景山区", "石", 0.03),
    ("110108", "京0108", "海淀区", "海", 0.14),
    ("110109", "京0109", "门头沟区", "门", 0.02),
    ("110111", "京0111", "房山区", "房", 0.06),
    ("110112", "京0112", "通州区", "通", 0.08),
    ("110113", "京0113", "顺义区", "顺", 0.06),
    ("110114", "京0114", "昌平区", "昌", 0.10),
    ("110115", "京0115", "大兴区", "兴", 0.09),
    ("110116", "京0116", "怀柔区", "怀", 0.02),
    ("110117", "京0117", "平谷区", "平", 0.02),
    ("110118", "京0118", "密云区", "密", 0.02),
    ("110119", "京0119", "延庆区", "延", 0.02),
)
# Probability of each district, for drawing where a subject or a record belongs.
DISTRICT_P = np.array([d[4] for d in DISTRICTS]) / sum(d[4] for d in DISTRICTS)


def district_texts(template: str) -> list[str]:
    """`template` rendered for every district ({code}, {court}, {name}, {d})."""
    return [
        template.format(code=code, court=court, name=name, d=abbr)
        for code, court, name, abbr, _w in DISTRICTS
    ]
