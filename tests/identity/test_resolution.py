"""Identity resolution without the service: keys, the Splink model and the hard rules.

Expected links are the synthetic truth: each record is made from a known
person, so a link to anyone else is wrong, whatever the model says.
"""

from __future__ import annotations

import random

from credence.identity.keys import Identity, name_key
from credence.identity.model import ScoredPair, score_pairs
from credence.identity.rules import decide


def test_name_keys_ignore_script_order_tones_and_hyphens() -> None:
    assert name_key("王小明") == "wang xiaoming"
    assert name_key("Xiaoming Wang") == "wang xiaoming"
    assert name_key("WANG Xiao-ming") == "wang xiaoming"
    assert name_key("Wáng Xiǎomíng") == "wang xiaoming"
    assert name_key("欧阳娜娜") == name_key("Nana Ouyang") == "nana ouyang"
    assert name_key("吕布") == name_key("Lü Bu")


def _pair(name: str, date: str, region: str) -> ScoredPair:
    levels = {"name": name, "birth_date": date, "region": region}
    return ScoredPair("r1", "ric:x", 40.0, 0.999999, levels)


def test_name_only_agreement_never_links_whatever_the_weight() -> None:
    for date, region in [
        ("else", "else"),
        ("missing", "missing"),
        ("else", "same"),
        ("exact", "else"),
    ]:
        links, _ = decide([_pair("exact", date, region)], person=True)
        assert links == [], (date, region)
    org = ScoredPair("r1", "uscc:x", 40.0, 0.999999, {"name": "exact", "region": "else"})
    assert decide([org], person=False)[0] == []


def test_a_link_needs_the_exact_birth_date_and_region() -> None:
    assert decide([_pair("exact", "exact", "same")], person=True)[0] != []
    assert decide([_pair("close", "exact", "same")], person=True)[0] != []
    assert decide([_pair("exact", "typo", "same")], person=True)[0] == []
    assert decide([_pair("exact", "exact", "prefecture")], person=True)[0] == []


REGIONS = ("110105", "110108", "310104")
COMMON = ("王伟", "李娜", "张伟", "王芳", "李伟", "刘洋")
LATIN = {"王伟": "Wang Wei", "李娜": "Li Na", "张伟": "Zhang Wei", "王芳": "Wang Fang",
         "李伟": "Li Wei", "刘洋": "Liu Yang"}  # fmt: skip


def _people(n: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(subject, name, birth date, region): common names, birth years 1980-1981 only."""
    out = []
    for i in range(n):
        day = f"{rng.choice((1980, 1981))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        out.append((f"ric:{i}", rng.choice(COMMON), day, rng.choice(REGIONS)))
    return out


def test_many_people_sharing_common_names_and_birth_years_give_zero_wrong_links() -> None:
    rng = random.Random(7)
    people = _people(400, rng)
    references = [Identity(s, n, d, (r,)) for s, n, d, r in people]
    records, truth = [], {}
    for i, (subject, name, day, region) in enumerate(people[:300]):
        shown = rng.choice((name, LATIN[name], " ".join(reversed(LATIN[name].split()))))
        records.append(Identity(f"u{i}", shown, day, (region,)))
        truth[f"u{i}"] = subject
    # People who are not registered at all, sharing names and birth years: never linked.
    # (One whose name, birth date and district all equal a registered person's is left
    # out: no data could tell the two apart, so it is no test of name-only agreement.)
    known = {(n, d, r) for _, n, d, r in people}
    for j, (_, name, day, region) in enumerate(_people(100, random.Random(8))):
        if (name, day, region) not in known:
            records.append(Identity(f"x{j}", name, day, (region,)))
    links, _ = decide(score_pairs(records, references, person=True), person=True)
    wrong = [(lk.record, lk.subject) for lk in links if truth.get(lk.record) != lk.subject]
    assert wrong == []
    # Most registered people are still found: the others share name, date and region.
    assert len(links) > 200


def test_typos_transliterations_and_swapped_order_link_when_date_and_region_agree() -> None:
    references = [
        Identity("ric:a", "欧阳娜娜", "1990-07-15", ("110105",)),
        Identity("ric:b", "陈晓东", "1975-01-30", ("310104",)),
        Identity("ric:c", "陈晓东", "1975-11-03", ("310104",)),
    ]
    records = [
        Identity("pinyin", "Ouyang Nana", "1990-07-15", ("110105",)),
        Identity("swapped", "Nana Ouyang", "1990-07-15", ("110105",)),
        Identity("name-typo", "Chen Xiaodonh", "1975-01-30", ("310104",)),
        Identity("date-typo", "陈晓东", "1975-11-08", ("310104",)),
        Identity("other-district", "Chen Xiaodong", "1975-01-30", ("310115",)),
    ]
    links, _ = decide(score_pairs(records, references, person=True), person=True)
    got = {lk.record: lk.subject for lk in links}
    assert got == {
        "pinyin": "ric:a",
        "swapped": "ric:a",
        "name-typo": "ric:b",
    }  # a typo in the birth date or another district: left unmatched
    evidence = next(lk for lk in links if lk.record == "pinyin").evidence()
    assert evidence["agreed"] == ["birth_date", "name", "region"]


def test_an_organisation_links_on_name_and_region_never_on_the_name_alone() -> None:
    references = [
        Identity("uscc:a#0", "朝阳鑫源贸易有限公司", None, ("110105",)),
        Identity("uscc:a#1", "Chaoyang Xinyuan Maoyi Youxian Gongsi", None, ("110105",)),
        Identity("uscc:b#0", "朝阳鑫源贸易有限公司", None, ("110108",)),  # same name elsewhere
    ]
    records = [
        Identity("latin", "CHAOYANG XINYUAN MAOYI YOUXIAN GONGSI", None, ("110105",)),
        Identity("chinese", "朝阳鑫源贸易有限公司", None, ("110108",)),
        Identity("nowhere", "朝阳鑫源贸易有限公司", None, ("310101",)),
    ]
    links, _ = decide(score_pairs(records, references, person=False), person=False)
    assert {lk.record: lk.subject for lk in links} == {"latin": "uscc:a", "chinese": "uscc:b"}


def test_match_entries_are_canonical_ledger_entries() -> None:
    from credence.ledger.entries import EntryError, match_entry, parse_entry

    body = match_entry(7, "proposed", 3, "ab" * 32)
    assert parse_entry(7, body).body["case"] == 3
    try:
        match_entry(7, "guessed", 3, "x")
    except EntryError as exc:
        assert "match action" in str(exc)
    else:
        raise AssertionError("an unknown match action was accepted")
