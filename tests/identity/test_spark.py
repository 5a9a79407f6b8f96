"""`credence identity resolve --engine spark` gives exactly the DuckDB run's matches.

A small synthetic register with known truth (common names in Chinese and
pinyin, swapped order, a typo in a name, typos in birth dates, addresses in
the next district, people nobody registered, two namesakes born the same day
in the same district, organisations by Latin name) is copied twice; one copy
is resolved on DuckDB, the other on Spark (PySpark local mode, one session,
in its own `credence` process). Both must make the links the truth says, and
the same ones: same record -> subject, same levels and agreed fields, match
weights within 1e-4 and probabilities within 1e-6 (the precision the
evidence is kept at), and the same `proposed` ledger entries, whose detail
commits to the rounded evidence and the subject.

Marked `spark` and `slow` (about a minute); skipped when PySpark is not installed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from credence.core.ids import make_ric, make_uscc
from credence.ingest.pipeline import ingest_file
from credence.service import matches
from credence.service.keys import authenticate, issue_key
from credence.service.state import Service
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import entries, unidentified
from tests.serving import cli

# `slow` too: about a minute (a JVM), kept out of `make test` once the spark tier is in it.
pytestmark = [pytest.mark.spark, pytest.mark.slow]

REGIONS = ("110105", "110108", "310104")
NEXT = {"110105": "110106", "110108": "110109", "310104": "310105"}  # a neighbouring district
LATIN = {"王伟": "Wang Wei", "李娜": "Li Na", "张伟": "Zhang Wei", "王芳": "Wang Fang",
         "刘洋": "Liu Yang", "陈静": "Chen Jing", "欧阳娜娜": "Ouyang Nana"}  # fmt: skip
TODAY = "2026-06-01"


def _people(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(subject, Chinese name, birth date, region): distinct in (name, date, region)."""
    out: dict[tuple[str, str, str], str] = {}
    while len(out) < 40:
        name, region = rng.choice(sorted(LATIN)), rng.choice(REGIONS)
        day = f"{rng.choice((1980, 1981))}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        if (name, day, region) not in out:
            out[(name, day, region)] = "ric:" + make_ric(f"{region}{day}{len(out):03d}")
    return [(s, n, f"{d[:4]}-{d[4:6]}-{d[6:]}", r) for (n, d, r), s in out.items()]


Truth = dict[str, str | None]  # record reference -> the subject it must link to, if any


def _truth() -> tuple[list[dict[str, Any]], list[dict[str, Any]], Truth, str]:
    """Registrations, records without an ID, the truth, and the ambiguous record."""
    rng = random.Random(5)
    people = _people(rng)
    twin_of = people[0]
    twin = ("ric:" + make_ric(f"{twin_of[3]}{twin_of[2].replace('-', '')}999"), *twin_of[1:])
    registrations = [
        _registration(s, n, LATIN[n], r, f"R-{i}") for i, (s, n, _, r) in enumerate([*people, twin])
    ]
    records, truth = [], {}

    def add(name: str, born: str | None, region: str, expect: str | None) -> str:
        ref = f"U-{len(records)}"
        records.append(_record(ref, name, born, region))
        truth[ref] = expect
        return ref

    for subject, name, born, region in people[1:31]:
        latin = LATIN[name]
        shown = rng.choice((name, latin, " ".join(reversed(latin.split())), latin.upper()))
        add(shown, born, region, subject)
    subject, name, born, region = people[31]
    add(LATIN[name][:-1] + "x" + "ng", born, region, None)  # a bad typo in the name: no link
    subject, name, born, region = people[32]
    add(
        LATIN[name] + "g" if not LATIN[name].endswith("g") else LATIN[name][:-1],
        born,
        region,
        subject,
    )  # fmt: skip  (one letter off: Jaro-Winkler >= 0.94 still links)
    for _, name, born, region in people[33:36]:  # the birth date one day off
        add(name, born[:-1] + str((int(born[-1]) + 1) % 10), region, None)
    for _, name, born, region in people[36:39]:  # an address in the next district
        add(LATIN[name], born, NEXT[region], None)
    twins = add(twin_of[1], twin_of[2], twin_of[3], None)  # two registered namesakes
    known = {(n, d, r) for _, n, d, r in people}
    for j in range(8):  # people nobody registered
        name, region = rng.choice(sorted(LATIN)), rng.choice(REGIONS)
        day = f"197{j}-0{j + 1}-1{j}"
        assert (name, day, region) not in known
        add(name, day, region, None)
    orgs = [("uscc:" + make_uscc(f"9111000060003{i:03d}1"), i) for i in range(4)]
    org_names = ["朝阳鑫源贸易有限公司", "海淀博远科技有限公司", "浦东华信物流有限公司",
                 "朝阳恒达建筑工程有限公司"]  # fmt: skip
    org_latin = [
        "Chaoyang Xinyuan Maoyi Youxian Gongsi",
        "Haidian Boyuan Keji Youxian Gongsi",
        "Pudong Huaxin Wuliu Youxian Gongsi",
        "Chaoyang Hengda Jianzhu Gongcheng Youxian Gongsi",
    ]
    for (code, i), region in zip(orgs, ("110105", "110108", "310115", "110105"), strict=True):
        registrations.append(
            _registration(code, org_names[i], org_latin[i], region, f"B-{i}", organisation=True)
        )
    add(org_latin[0].upper(), None, "110105", orgs[0][0])
    add(org_names[1], None, "110108", orgs[1][0])
    add(org_names[2], None, "110105", None)  # the same name, registered elsewhere
    return registrations, records, truth, twins


def _registration(
    subject: str, name: str, latin: str, region: str, ref: str, organisation: bool = False
) -> dict[str, Any]:
    item = "administrative.business-registration" if organisation else (
        "administrative.resident-registration")  # fmt: skip
    return {
        "reference": ref,
        "item": item,
        "subject": subject,
        "occurred_on": "2020-01-01",
        "attributes": {"name": name, "name_latin": latin, "region": region},
    }


def _record(ref: str, name: str, born: str | None, region: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "reference": ref,
        "item": "judicial.defaulter-listed",
        "occurred_on": "2026-03-05",
        "attributes": {"case_number": f"(2026)京0105执{ref[2:]}号"},
        "name": name,
        "region": region,
    }
    if born is not None:
        row["birth_date"] = born
    return row


def _registry(root: Path) -> tuple[Truth, str]:
    """A registry at root/data with the register and the records waiting; the truth."""
    import datetime as dt

    registrations, records, truth, twins = _truth()
    settings = Settings(data_dir=root / "data", today=dt.date.fromisoformat(TODAY))
    registry, _ = Registry.init(settings)
    registry.add_source("psb", ["administrative.resident-registration"])
    registry.add_source("market-regulator", ["administrative.business-registration"])
    registry.add_source("court", ["judicial.*"])
    for source, item in (("psb", "resident"), ("market-regulator", "business")):
        path = root / f"{source}.jsonl"
        rows = [r for r in registrations if r["item"].endswith(f"{item}-registration")]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        assert ingest_file(registry, path, source).accepted == len(rows)
    key, _ = issue_key(registry, "source", "court-api", source="court")
    service = Service(registry, settings)
    party = authenticate(registry, key)
    assert party is not None
    assert matches.receive(service, party, {"records": records})["received"] == len(records)
    service.close()
    registry.close()
    return truth, twins


def _outcome(data: Path) -> tuple[dict[str, Any], list[tuple[int, str, str]]]:
    """Each record's status, subject and evidence; the `proposed` ledger entries."""
    engine = sa.create_engine(f"sqlite:///{data / 'credence.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(unidentified).order_by(unidentified.c.id)).all()
        bodies = conn.execute(
            sa.select(entries.c.body).where(entries.c.kind == "match").order_by(entries.c.seq)
        ).scalars()
        steps = [json.loads(b) for b in bodies]
    engine.dispose()
    got = {
        r.reference: (r.status, r.subject, json.loads(r.evidence) if r.evidence else None)
        for r in rows
    }
    proposed = [(s["case"], s["action"], s["detail"]) for s in steps if s["action"] == "proposed"]
    return got, proposed


def test_spark_resolution_makes_the_same_matches_as_duckdb(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    truth, twins = _registry(tmp_path / "base")
    runs = {}
    for engine in ("duckdb", "spark"):
        root = tmp_path / engine
        shutil.copytree(tmp_path / "base" / "data", root / "data")
        env = {
            **os.environ,
            "CREDENCE_DATA_DIR": str(root / "data"),
            "CREDENCE_TODAY": TODAY,
            "CREDENCE_SPARK_MASTER": "local[2]",
            "CREDENCE_SPARK_DRIVER_MEMORY": "1g",
        }
        out = cli(env, "identity", "resolve", "--engine", engine)
        linked = sum(1 for s in truth.values() if s)
        assert f"{linked} pending match(es) for review, 1 ambiguous" in out, out
        runs[engine] = _outcome(root / "data")

    (duck, duck_steps), (spark, spark_steps) = runs["duckdb"], runs["spark"]
    # The truth, on DuckDB: every linkable record linked to its own subject, nothing else.
    linked = {ref: subject for ref, (status, subject, _) in duck.items() if status == "pending"}
    assert linked == {ref: subject for ref, subject in truth.items() if subject}
    assert [ref for ref, (status, _, _) in duck.items() if status == "ambiguous"] == [twins]
    # Spark: the same records linked to the same subjects with the same evidence.
    assert spark.keys() == duck.keys()
    for ref, (status, subject, evidence) in duck.items():
        s_status, s_subject, s_evidence = spark[ref]
        assert (s_status, s_subject) == (status, subject), ref
        if evidence is None:
            assert s_evidence is None, ref
            continue
        assert s_evidence["agreed"] == evidence["agreed"], ref
        assert s_evidence["levels"] == evidence["levels"], ref
        assert abs(s_evidence["match_weight"] - evidence["match_weight"]) <= 1e-4, ref
        assert abs(s_evidence["match_probability"] - evidence["match_probability"]) <= 1e-6, ref
    assert spark_steps == duck_steps  # the same commitments to subject and evidence
