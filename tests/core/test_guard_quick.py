"""The guard's shortcuts give the very verdicts of the full scan.

Ingest asks the guard about thousands of distinct names, so it folds ASCII
text without the Unicode steps, skips the Scan of a text in which no term
of any kind can start (matcher.may_hit, with a per-word cache) and looks
for pinyin with a trie pattern. None of that may let through what the
full scan refuses: each test compares with a reference written here.
"""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path

import pytest
import yaml

import credence.core.guard as guard
from credence.core.guard import ProhibitedUse, find_prohibited
from credence.core.guard.lexicon import _any_of, load_lexicon
from credence.core.guard.matcher import Context, Scan
from credence.core.guard.normalise import fold, tokenise, variants, words

PROBE_FILES = sorted(Path(__file__).parent.glob("guard_*.yaml"))

# Company names as the bench city writes them, with prohibited terms worked in.
REWORDED = [
    "Beijing Zongjiao Wenhua Youxian Gongsi",  # pinyin: religion
    "Haidian Zong Jiao Keji Youxian Gongsi",  # pinyin across two words
    "Chaoyang Falun Gong Fuwu Zhongxin",
    "Fengtai Ji Du Jiao Shangmao Jingyingbu",  # across three words
    "Shunyi Re1igion Services Co",  # a digit for a letter
    "Tongzhou HIVStatus Keji Youxian Gongsi",  # camelCase compound
    "Tongzhou hivstatus Keji Youxian Gongsi",  # a compound in one word
    "Miyun ismuslim Wenhua Youxian Gongsi",
    "Daxing hasdiabetes Fuwu Zhongxin",
    "Daxing R.E.L.I.G.I.O.N. Dianzi Youxian Gongsi",
    "Miyun Ｆａｉｔｈ Consulting",  # full-width
    "Pinggu rеligious Goods Ltd",  # Cyrillic е
    "Huairou re\u200bligion Trading",  # zero-width space
    "Xicheng zōngjiào Wenhua",  # tone marks
    "Changping zong2jiao4 Wenhua",  # tone numbers
    "Fangshan Trade Union Liaison Office",
    "北京宗教文化有限公司",
    "北京宗 教文化有限公司",  # a separator between the characters
    "朝阳上访服务有限公司",
    "海淀民族文化传媒有限公司",
    "Tianjin Protesters Association",
    "Xuanwu Dissident Media Studio",
    "Yanqing blood type testing",
]
ORDINARY = [
    "Beijing Kaifeng Xinxi Jishu Youxian Gongsi",
    "Shunyi Heda Qiche Fuwu Gufen Youxian Gongsi",
    "北京诚众机械设备有限公司",
    "京朝税欠公告〔0〕0号",
    "Loan overdue 90 days or more",
    "(0)京0执0号",
    "",
    "a b",
]


def _reference_fold(text: str) -> str:
    """fold as its docstring describes it, every step on every text."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = text.translate(
        str.maketrans(
            "АВЕКМНОРСТХаеорсуіјѕһԁʏΑΒΕΗΙΚΜΝΟΡΤΥΧαεικνορτυχ",
            "ABEKMHOPCTXaeopcyijshdyABEHIKMNOPTYXaeiknoptux",
        )
    )
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", bare)
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text).lower()
    text = re.sub(r"\bin[\s_-]+laws?\b", "inlaw", text)
    text = re.sub(r"\bsit[\s_-]+ins?\b", "sitin", text)
    text = re.sub(r"\bco[\s_-]+(?=[a-z])", "co", text)
    return re.sub(r"\bsect\.\s*(?=\d)", "section ", text)


def _full_scan(text: str, organisations_only: bool) -> ProhibitedUse | None:
    """The guard without its quick test: a Scan of every variant."""
    lex = load_lexicon()
    for variant in variants(fold(text)):
        hit = Scan(lex, variant).refusal(Context(organisations_only=organisations_only))
        if hit is not None:
            return ProhibitedUse(hit.category, hit.term)
    return None


def _texts() -> list[str]:
    probes = [
        str(probe["text"])
        for path in PROBE_FILES
        for probe in yaml.safe_load(path.read_text(encoding="utf-8"))["probes"]
    ]
    return REWORDED + ORDINARY + probes


def test_ascii_is_folded_as_every_step_would() -> None:
    chars = [chr(c) for c in range(128)]
    pieces = ["in law", "In-Laws", "sit ins", "co-", "Co_op", "sect. 5", "hivStatus", "ABc", " "]
    rng = random.Random(3)
    texts = chars + ["".join(rng.choices(chars, k=rng.randint(1, 40))) for _ in range(3000)]
    texts += [
        "".join(rng.choices(pieces + chars[97:123], k=rng.randint(1, 8))) for _ in range(3000)
    ]
    for text in texts:
        assert fold(text) == _reference_fold(text), repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "re\u200bligion",
        "soft\u00adhyphen",
        "zōngjiào",
        "Ｆａｉｔｈ",
        "rеligion",
        "e\u0301\u0327",
        "宗\u200d教",
    ],
)
def test_other_text_is_folded_as_every_step_would(text: str) -> None:
    assert fold(text) == _reference_fold(text)
    assert fold(text) == fold(fold(text))


def test_words_are_the_tokens_forms() -> None:
    for text in ["a b c religion", "x y", "r e l i g i o n and b c", "hiv status", "", "宗教"]:
        assert words(fold(text)) == [t.form for t in tokenise(fold(text))]


def test_any_of_matches_where_a_term_occurs() -> None:
    terms = ["falun", "falungong", "fojiao", "jiao", "zongjiao", "dang", "dangyuan", "minzu"]
    pattern = _any_of(terms)
    rng = random.Random(5)
    letters = "afgjilnouzdmy"
    for _ in range(20_000):
        text = "".join(rng.choices(letters, k=rng.randint(0, 14)))
        if rng.random() < 0.3:
            text += rng.choice(terms)[: rng.randint(1, 9)]
        assert bool(pattern.search(text)) == any(t in text for t in terms), text
    assert _any_of([]).search("anything") is None


@pytest.mark.parametrize("organisations_only", [False, True])
def test_quick_path_gives_the_full_scans_verdicts(organisations_only: bool) -> None:
    subjects = ("organisation",) if organisations_only else ("person",)
    texts = _texts()
    for attempt in ("words not yet cached", "words cached"):
        guard._scan_text.cache_clear()
        for text in texts:
            expected = _full_scan(text, organisations_only)
            assert find_prohibited(text, subjects=subjects) == expected, (attempt, text)


@pytest.mark.parametrize("text", REWORDED)
def test_reworded_names_are_refused_every_time(text: str) -> None:
    for _ in range(2):  # the second time with the lexicon's word cache warm
        guard._scan_text.cache_clear()
        assert find_prohibited(text) is not None, text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_names_pass(text: str) -> None:
    assert find_prohibited(text, subjects=("organisation",)) is None


def test_pinyin_pattern_is_searched_only_for_whether_a_term_occurs() -> None:
    """Scan uses pinyin_any only as a yes/no test: which term it matches is undefined."""
    source = (Path(guard.__file__).parent / "matcher.py").read_text(encoding="utf-8")
    uses = re.findall(r"pinyin_any\(\)\.(\w+)\(", source)
    assert uses and set(uses) == {"search"}
