"""Organisations' registered names: Chinese, with a Latin (pinyin) transliteration.

A name is built as registrations are: district + trade name (two characters)
+ line of business + legal form, e.g. 朝阳鑫源贸易有限公司 / "Chaoyang Xinyuan
Trading Co., Ltd.". Each piece carries its pinyin, so the Latin form is exact
rather than guessed. Drawn with numpy for a million organisations at once;
trade names repeat across the city (as real ones do), so search must cope
with many organisations sharing a word.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.guard import find_prohibited
from credence.core.ids import SubjectKind
from credence.synth.arrays import Ints

# Trade-name characters and their pinyin (common in registered names).
_TRADE = (
    ("鑫", "Xin"), ("源", "Yuan"), ("华", "Hua"), ("盛", "Sheng"), ("泰", "Tai"),
    ("恒", "Heng"), ("达", "Da"), ("丰", "Feng"), ("瑞", "Rui"), ("德", "De"),
    ("嘉", "Jia"), ("宏", "Hong"), ("利", "Li"), ("通", "Tong"), ("兴", "Xing"),
    ("安", "An"), ("永", "Yong"), ("信", "Xin"), ("诚", "Cheng"), ("康", "Kang"),
    ("明", "Ming"), ("金", "Jin"), ("海", "Hai"), ("天", "Tian"), ("博", "Bo"),
    ("凯", "Kai"), ("润", "Run"), ("晨", "Chen"), ("新", "Xin"), ("锦", "Jin"),
    ("优", "You"), ("智", "Zhi"), ("远", "Yuan"), ("航", "Hang"), ("百", "Bai"),
    ("合", "He"), ("众", "Zhong"), ("广", "Guang"), ("易", "Yi"), ("昌", "Chang"),
)  # fmt: skip
# Lines of business: Chinese and pinyin.
_BUSINESS = (
    ("贸易", "Maoyi"), ("科技", "Keji"), ("建筑工程", "Jianzhu Gongcheng"),
    ("餐饮管理", "Canyin Guanli"), ("物流", "Wuliu"), ("电子", "Dianzi"),
    ("食品", "Shipin"), ("服装", "Fuzhuang"), ("房地产开发", "Fangdichan Kaifa"),
    ("机械设备", "Jixie Shebei"), ("文化传媒", "Wenhua Chuanmei"),
    ("信息技术", "Xinxi Jishu"), ("环保工程", "Huanbao Gongcheng"),
    ("汽车服务", "Qiche Fuwu"), ("商贸", "Shangmao"),
)  # fmt: skip
# Legal forms by the USCC's first character (registration authority): Chinese and pinyin.
_FORMS = {
    "9": (("有限公司", "Youxian Gongsi"), ("股份有限公司", "Gufen Youxian Gongsi"),
          ("经营部", "Jingyingbu")),
    "1": (("服务中心", "Fuwu Zhongxin"),),
    "5": (("协会", "Xiehui"), ("促进会", "Cujinhui")),
    "N": (("专业合作社", "Zhuanye Hezuoshe"),),
    "Y": (("事务所", "Shiwusuo"),),
}  # fmt: skip
_FORM_P = {"9": (0.7, 0.1, 0.2), "1": (1.0,), "5": (0.6, 0.4), "N": (1.0,), "Y": (1.0,)}
# District names without 区, with pinyin, by region code (the city's districts).
_DISTRICT = {
    "110101": ("东城", "Dongcheng"), "110102": ("西城", "Xicheng"),
    "110105": ("朝阳", "Chaoyang"), "110106": ("丰台", "Fengtai"),
    "110107": ("石景山", "Shijingshan"), "110108": ("海淀", "Haidian"),
    "110109": ("门头沟", "Mentougou"), "110111": ("房山", "Fangshan"),
    "110112": ("通州", "Tongzhou"), "110113": ("顺义", "Shunyi"),
    "110114": ("昌平", "Changping"), "110115": ("大兴", "Daxing"),
    "110116": ("怀柔", "Huairou"), "110117": ("平谷", "Pinggu"),
    "110118": ("密云", "Miyun"), "110119": ("延庆", "Yanqing"),
}  # fmt: skip
_REDRAWS = 20
_ELSEWHERE = ("北京", "Beijing")  # organisations registered outside the city's districts


def organisation_names(uscc: Any, rng: np.random.Generator) -> tuple[Any, Any, Any]:
    """(name, pinyin name, region code) arrays for USCCs `uscc` (canonical, no prefix).

    The region is the registration's division code, which a USCC carries in
    characters 3-8, so a name, its code and its region always agree.
    """
    codes = uscc.to_numpy(zero_copy_only=False).astype(str)
    n = codes.size
    first: Ints = rng.integers(0, len(_TRADE), size=n)
    second: Ints = rng.integers(0, len(_TRADE), size=n)
    line: Ints = rng.integers(0, len(_BUSINESS), size=n)
    form_draw = rng.random(n)
    names: list[str] = []
    latin: list[str] = []
    for i in range(n):  # string assembly only; every draw above is vectorised
        code = codes[i]
        place, place_latin = _DISTRICT.get(code[2:8], _ELSEWHERE)
        forms = _FORMS.get(code[0], _FORMS["9"])
        form, form_latin = forms[_pick(_FORM_P.get(code[0], (1.0,)), form_draw[i])]
        picks = (int(first[i]), int(second[i]), int(line[i]))
        for _ in range(_REDRAWS):
            a, b, business = _TRADE[picks[0]], _TRADE[picks[1]], _BUSINESS[picks[2]]
            name = f"{place}{a[0]}{b[0]}{business[0]}{form}"
            spelled = f"{place_latin} {a[1]}{b[1].lower()} {business[1]} {form_latin}"
            if _acceptable(name, spelled):
                break
            # Pinyin runs such as "Youxing" spell a prohibited word (游行); registrars see
            # such names, but the city's should all be accepted, so draw another.
            picks = (int(rng.integers(len(_TRADE))), int(rng.integers(len(_TRADE))), picks[2])
        names.append(name)
        latin.append(spelled)
    regions = pc.utf8_slice_codeunits(uscc, 2, 8)
    return pa.array(names, pa.string()), pa.array(latin, pa.string()), regions


def _acceptable(*texts: str) -> bool:
    """True if credence's prohibited-input guard accepts these texts about an organisation."""
    return find_prohibited(*texts, subjects=(SubjectKind.ORGANISATION,)) is None


def _pick(shares: tuple[float, ...], point: float) -> int:
    total = 0.0
    for index, share in enumerate(shares):
        total += share
        if point < total:
            return index
    return len(shares) - 1
