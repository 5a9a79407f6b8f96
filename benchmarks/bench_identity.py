"""Benchmark of identity resolution: pairs compared per second, precision and recall.

Synthetic data with known truth, made here (not by the code under test):
a register of N residents (default 100,000) with common Chinese names drawn
from a skewed table (many 王伟, 李娜, 张伟...), birth dates 1960-2000 and
16 districts of Beijing; their resident IDs' region of registration differs
from the residence for 30%. Then M unidentified records (default 20,000):
80% made from registered residents, written as the Chinese name (40%),
pinyin "Surname Given" (30%), swapped "Given Surname" (15%), pinyin with one
letter typed wrong (10%) or with a one-digit typo in the birth date (5%);
20% from people who are not registered but share the names, birth years
and districts. The truth of each record is known, so:

- precision = right links / all links (a link to anyone but the record's
  person is wrong; an unregistered person's record has no right link);
- recall = right links / records of registered residents;
- pairs/s = candidate pairs scored by Splink (DuckDB: blocking, comparison
  levels, match weights, and reading the pairs back into Python) / the wall
  time of that step; the keys (pinyin, sorted words) of both sides and the
  hard rules (credence.identity.rules) are timed apart.

Usage: python benchmarks/bench_identity.py [--residents N] [--records M] [--seed S] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from pathlib import Path

from measure import machine
from table import Figure, add

from credence.identity.keys import Identity
from credence.identity.model import prepare, score_tables
from credence.identity.rules import decide

RESULTS = Path(__file__).with_name("RESULTS.md")
# Surnames by rough share of the population, with their pinyin (written out, not computed).
SURNAMES = (("王", "Wang", 7), ("李", "Li", 7), ("张", "Zhang", 7), ("刘", "Liu", 5),
            ("陈", "Chen", 5), ("杨", "Yang", 3), ("黄", "Huang", 2), ("赵", "Zhao", 2),
            ("吴", "Wu", 2), ("周", "Zhou", 2), ("徐", "Xu", 1), ("孙", "Sun", 1),
            ("马", "Ma", 1), ("朱", "Zhu", 1), ("胡", "Hu", 1), ("郭", "Guo", 1))  # fmt: skip
GIVEN = (("伟", "Wei", 8), ("娜", "Na", 6), ("芳", "Fang", 6), ("敏", "Min", 5),
         ("静", "Jing", 5), ("丽", "Li", 4), ("强", "Qiang", 4), ("磊", "Lei", 4),
         ("洋", "Yang", 3), ("艳", "Yan", 3), ("勇", "Yong", 3), ("军", "Jun", 3),
         ("杰", "Jie", 3), ("娟", "Juan", 2), ("涛", "Tao", 2), ("明", "Ming", 2),
         ("超", "Chao", 2), ("秀", "Xiu", 1), ("霞", "Xia", 1), ("平", "Ping", 1))  # fmt: skip
DISTRICTS = ("110101", "110102", "110105", "110106", "110107", "110108", "110109",
             "110111", "110112", "110113", "110114", "110115", "110116", "110117",
             "110118", "110119")  # fmt: skip


def _draw(rng: random.Random, table: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
    han, latin, _ = rng.choices(table, weights=[w for *_, w in table])[0]
    return han, latin


def person(rng: random.Random) -> tuple[str, str, str, str, str]:
    """(Chinese name, surname pinyin, given pinyin, birth date, residence district)."""
    sur, sur_latin = _draw(rng, SURNAMES)
    given, given_latin = _draw(rng, GIVEN)
    if rng.random() < 0.4:  # a two-character given name
        g2, l2 = _draw(rng, GIVEN)
        given, given_latin = given + g2, given_latin + l2.lower()
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(41 * 365))
    return sur + given, sur_latin, given_latin, born.isoformat(), rng.choice(DISTRICTS)


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice("aeioun") + word[i + 1 :]


def _date_typo(day: str, rng: random.Random) -> str:
    i = rng.choice((8, 9))
    digit = str((int(day[i]) + rng.randint(1, 8)) % 10)
    return day[:i] + digit + day[i + 1 :]


def build(
    residents: int, records: int, seed: int
) -> tuple[list[Identity], list[Identity], dict[str, str]]:
    rng = random.Random(seed)
    people = [person(rng) for _ in range(residents)]
    references = []
    for i, (han, sur, given, born, home) in enumerate(people):
        registered = home if rng.random() < 0.7 else rng.choice(DISTRICTS)
        regions = (home, registered)
        references.append(Identity(f"ric:{i}#0", han, born, regions))
        references.append(Identity(f"ric:{i}#1", f"{sur} {given}", born, regions))
    out, truth = [], {}
    for j in range(records):
        uid = f"u{j}"
        if rng.random() < 0.2:  # not registered: same names, years and districts
            han, _, _, born, home = person(rng)
            out.append(Identity(uid, han, born, (home,)))
            continue
        i = rng.randrange(residents)
        han, sur, given, born, home = people[i]
        truth[uid] = f"ric:{i}"
        form = rng.random()
        if form < 0.40:
            name = han
        elif form < 0.70:
            name = f"{sur} {given}"
        elif form < 0.85:
            name = f"{given} {sur}"
        elif form < 0.95:
            name = f"{sur} {_typo(given, rng)}"
        else:
            name, born = han, _date_typo(born, rng)
        out.append(Identity(uid, name, born, (home,)))
    return references, out, truth


def run(residents: int, records: int, seed: int) -> dict[str, object]:
    references, side, truth = build(residents, records, seed)
    facts = {r.uid.split("#")[0]: (r.birth_date, r.regions) for r in references}
    asked = {r.uid: (r.birth_date, r.regions[0]) for r in side}
    start = time.perf_counter()
    tables = prepare(side), prepare(references)
    prepared = time.perf_counter() - start
    start = time.perf_counter()
    pairs = score_tables(*tables, person=True)
    scored = time.perf_counter() - start
    start = time.perf_counter()
    links, ambiguous = decide(pairs, person=True)
    ruled = time.perf_counter() - start
    right = sum(1 for lk in links if truth.get(lk.record) == lk.subject)
    wrong = len(links) - right
    # A wrong link is "name-only" if the record's birth date or district is not the linked
    # person's (from the synthetic truth, not from the model's levels); any other wrong
    # link is an identity collision: a namesake born the same day in the same district.
    name_only = sum(
        1
        for lk in links
        if asked[lk.record][0] != facts[lk.subject][0]
        or asked[lk.record][1] not in facts[lk.subject][1]
    )
    return {
        "pairs": len(pairs),
        "seconds": scored,
        "prepare_seconds": prepared,
        "rows": len(side) + len(references),
        "rules_seconds": ruled,
        "pairs_per_s": len(pairs) / scored,
        "links": len(links),
        "right": right,
        "wrong": wrong,
        "ambiguous": len(ambiguous),
        "registered_records": len(truth),
        "precision": right / len(links) if links else 1.0,
        "recall": right / len(truth) if truth else 0.0,
        "name_only": name_only,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    got = run(args.residents, args.records, args.seed)
    for key, value in got.items():
        print(f"{key}: {value}")
    data = (
        f"{args.residents:,} registered residents (two name forms each) and {args.records:,} "
        f"unidentified records (seed {args.seed}; 20% of unregistered namesakes)"
    )
    pairs_note = (
        f"{got['pairs']:,} pairs in {got['seconds']:.1f} s; keys of {got['rows']:,} rows "
        f"{got['prepare_seconds']:.1f} s; hard rules {got['rules_seconds']:.2f} s"
    )
    add(
        Figure(
            f"identity resolution: candidate pairs scored by Splink on DuckDB, {data}",
            got["pairs_per_s"],
            "pairs/s",
            note=pairs_note,
        ),
        Figure(
            "identity resolution: precision (right links / links)",
            got["precision"],
            "",
            note=f"{got['wrong']} wrong of {got['links']:,} links: namesakes born the same "
            "day in the same district, not registered themselves",
        ),
        Figure(
            "identity resolution: wrong links on the name alone (birth date or district differ)",
            got["name_only"],
            "links",
            no_more_than=0,
        ),
        Figure(
            "identity resolution: recall (right links / records of registered residents)",
            got["recall"],
            "",
            note=f"{got['ambiguous']:,} records ambiguous; date typos never link",
        ),
    )
    if args.record:
        when = dt.date.today().isoformat()
        rows = [
            ("keys of both sides (pinyin, sorted words)",
             f"{got['rows']:,} rows in {got['prepare_seconds']:.1f} s"),
            ("candidate pairs scored (Splink 5, DuckDB)",
             f"{got['pairs']:,} in {got['seconds']:.1f} s = {got['pairs_per_s']:,.0f} pairs/s"),
            ("hard rules over the scored pairs", f"{got['rules_seconds']:.2f} s"),
            ("links made", f"{got['links']:,} ({got['right']:,} right, {got['wrong']} wrong)"),
            ("wrong links on the name alone (birth date or district differ)",
             str(got["name_only"])),
            ("precision", f"{got['precision']:.4f}"),
            ("recall", f"{got['recall']:.4f} ({got['right']:,} of {got['registered_records']:,})"),
            ("left ambiguous", f"{got['ambiguous']:,}"),
        ]  # fmt: skip
        table = "".join(f"| {a} | {b} |\n" for a, b in rows)
        text = (
            f"\n### Identity resolution (issue 12) ({when})\n\n{machine()}\n\n"
            f"Data: {data}.\n\n| figure | value |\n|---|---|\n{table}"
        )
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(text)


if __name__ == "__main__":
    main()
