"""The scoring commands as a user drives them: score, explain, simulate, rulebook check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from tests.conftest import ORG, PERSON, PERSON_2, row, write_csv

AS_OF = "2024-06-01"


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data"), "CREDENCE_SCORE_BUCKETS": "2"}

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def loaded(run, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A registry holding one listed defaulter and one organisation with a penalty."""
    assert run("init")[0] == 0
    assert run("source", "add", "court", "--items", "judicial.*")[0] == 0
    assert run("source", "add", "regulator", "--items", "administrative.*")[0] == 0
    court = write_csv(tmp_path / "court.csv", [row()])
    assert run("ingest", str(court), "--source", "court")[0] == 0
    penalty = row(
        item="administrative.tax-penalty",
        subject=ORG,
        reference="P-1",
        attributes={"decision_number": "税罚1号"},
    )
    regulator = write_csv(tmp_path / "reg.csv", [penalty])
    assert run("ingest", str(regulator), "--source", "regulator")[0] == 0
    return run


@pytest.mark.parametrize("engine", ["sql", "duckdb"])
def test_score_writes_one_json_object_per_subject(loaded, tmp_path: Path, engine: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "scores.jsonl"
    code, text = loaded("score", "--as-of", AS_OF, "--engine", engine, "--out", str(out))
    assert code == 0, text
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    by_subject = {x["subject"]: x for x in lines}
    assert set(by_subject) == {PERSON, ORG}
    person, org = by_subject[PERSON], by_subject[ORG]
    assert person["score"] is None and person["lists"][0]["list"] == "judgment-defaulters"
    assert "no-flights" in person["measures"]
    assert org["score"] == 900 and org["grade"] == "B"
    assert org["reasons"] == [
        # ledger: key issue, source court, its record, source regulator, then this penalty
        {"seq": 4, "item": "administrative.tax-penalty", "date": "2024-03-05", "points": -100}
    ]
    assert org["rulebook"]["name"] == "gov-default"
    assert org["rulebook"]["content_hash"].startswith("sha256:")
    assert "black list judgment-defaulters" in text and "2 subjects assessed" in text


def test_score_refuses_a_bad_engine_and_date(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("score", "--engine", "spark-ish")
    assert code == 2 and "--engine must be one of sql, duckdb" in text
    code, text = loaded("score", "--as-of", "2024-13-01")
    assert code == 2 and "--as-of must be a date" in text


def test_explain_says_why_and_what_would_change(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("explain", PERSON, "--as-of", AS_OF)
    assert code == 0, text
    assert "List of dishonest judgment defaulters, since 2024-03-05, until 2026-03-05" in text
    assert "case_number (2024)京0105执1号 would remove this listing" in text
    assert "No air travel" in text
    code, text = loaded("explain", ORG, "--as-of", AS_OF)
    assert "score 900, grade B" in text
    assert "+100 points reaches grade A" in text
    assert "counts until 2027-03-05" in text
    code, text = loaded("explain", "ric:123", "--as-of", AS_OF)
    assert code == 2


def test_explain_known_at_before_anything_was_held(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("explain", PERSON, "--as-of", AS_OF, "--known-at", "2000-01-01", "--json")
    assert code == 0, text
    data = json.loads(text)
    assert data["lists"] == [] and data["known_size"] == 0


def test_simulate_counts_transitions(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("simulate", "--rulebook", "suining-2010", "--as-of", AS_OF)
    assert code == 0, text
    assert "organisations assessed: 1" in text
    assert "lists left" in text and "judgment-defaulters" in text
    assert "measures lost" in text and "no-flights" in text


def test_rulebook_check_and_list(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, text = run("rulebook", "check", "gov-default")
    assert code == 0 and "ok: gov-default" in text and "content hash sha256:" in text
    code, text = run("rulebook", "list")
    assert code == 0 and "sesame-style" in text and "suining-2010" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rulebook: bad\nversion: 1\ntitle: Bad rules\nscore:\n  subjects: [person]\n"
        "  min: 0\n  max: 1000\n  base: 1000\n  points:\n"
        "    - {item: social.volunteer-service, points: 5, categories: [religion]}\n"
        "  grades:\n    - {grade: A}\n"
    )
    code, text = run("rulebook", "check", str(bad))
    assert code == 2 and "bad.yaml:10" in text and "religion or belief" in text
    code, text = run("rulebook", "check", "no-such-preset")
    assert code == 2 and "no preset rulebook 'no-such-preset'" in text


@pytest.fixture
def with_late(loaded, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`loaded`, plus a person whose only record is decided after AS_OF."""
    late = row(
        subject=PERSON_2,
        reference="C-2",
        occurred_on="2024-07-01",
        decided_on="2024-07-02",
        attributes={"case_number": "(2024)京0105执2号"},
    )
    assert (
        loaded("ingest", str(write_csv(tmp_path / "late.csv", [late])), "--source", "court")[0] == 0
    )
    return loaded


def test_score_reports_who_was_left_out_and_what_it_read(with_late, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outputs, summaries = {}, {}
    for engine in ("sql", "duckdb"):
        out = tmp_path / f"{engine}.jsonl"
        code, text = with_late("score", "--as-of", AS_OF, "--engine", engine, "--out", str(out))
        assert code == 0, text
        assert "2 subjects assessed" in text
        assert "1 of the 3 subjects held were left out" in text
        assert "ledger head size" in text and "catalogue default" in text
        outputs[engine] = out.read_text()
        summaries[engine] = text[text.index("gov-default") :].replace(str(out), "OUT")
    assert outputs["sql"] == outputs["duckdb"]  # ledger head and catalogue included
    # The counts printed (by grade, list, measure) are the same whichever engine counted them.
    assert summaries["sql"] == summaries["duckdb"]
    assert "grade B" in summaries["duckdb"] and "measure no-flights" in summaries["duckdb"]
    first = json.loads(outputs["sql"].splitlines()[0])
    assert set(first["ledger"]) == {"size", "root"} and len(first["ledger"]["root"]) == 64
    assert first["catalogue"]["name"] == "default"
    assert first["catalogue"]["hash"].startswith("sha256:")


def test_explain_an_id_with_no_records_says_so_first(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("explain", PERSON_2, "--as-of", AS_OF, "--rulebook", "sesame-style")
    assert code == 0, text
    assert text.strip().splitlines()[0] == f"credence holds no records about {PERSON_2}"
    assert "score 600" not in text  # sesame-style's base, not a grade the person earned
    assert "deposit" not in text.lower()  # no perk of the base score presented as earned
    code, text = loaded("explain", PERSON_2, "--as-of", AS_OF, "--json")
    data = json.loads(text)
    assert data["no_records"] is True and data["records_held"] == 0
    assert data["score"] is None and data["grade"] is None and data["measures"] == []


def test_explain_records_held_that_do_not_count(with_late) -> None:  # type: ignore[no-untyped-def]
    code, text = with_late("explain", PERSON_2, "--as-of", AS_OF)
    assert code == 0, text
    assert f"credence holds 1 record about {PERSON_2}, but none counts" in text
    code, text = with_late("explain", PERSON_2, "--as-of", "2024-08-01")
    assert "List of dishonest judgment defaulters" in text


def test_explain_footer_names_rulebook_catalogue_and_ledger(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("explain", ORG, "--as-of", AS_OF)
    assert code == 0, text
    footer = text.strip().splitlines()[-1]
    assert footer.startswith("rulebook gov-default") and "catalogue default" in footer
    assert "ledger head size" in footer


def test_simulate_names_catalogue_and_ledger(loaded) -> None:  # type: ignore[no-untyped-def]
    code, text = loaded("simulate", "--rulebook", "suining-2010", "--as-of", AS_OF)
    assert code == 0, text
    assert "catalogue default" in text and "ledger head size" in text
