"""`credence key` and `credence rulebook publish`/`list` as a user drives them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from tests.conftest import PERSON


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    assert invoke("init")[0] == 0
    assert invoke("source", "add", "court", "--items", "judicial.*")[0] == 0
    return invoke


def test_key_issue_prints_the_key_alone_on_the_last_line(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("key", "issue", "relying-party", "air-china", "--purposes", "flight-booking")
    assert code == 0, out
    *description, key = out.rstrip("\n").split("\n")
    assert key.startswith("cred_rp_") and key == key.strip() and " " not in key
    assert "air-china" in description[0] and "flight-booking" in description[0]
    code, out = run("key", "list")
    assert code == 0 and "air-china" in out and key not in out and key[:20] not in out


def test_key_list_never_shows_a_subject_id(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("key", "issue", "subject", "resident", "--subject", PERSON)
    assert code == 0 and PERSON not in out
    code, out = run("key", "list")
    assert code == 0 and "subject" in out and PERSON[4:] not in out.replace("\n", "")


def test_key_issue_refusals_exit_2_with_the_reason(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("key", "issue", "relying-party", "air-china", "--purposes", "spying")
    assert code == 2 and "no measure serves the purpose 'spying'; purposes:" in out
    code, out = run("key", "issue", "wizard", "merlin")
    assert code == 2 and "role must be one of" in out
    code, out = run("key", "issue", "subject", "resident", "--subject", "ric:123")
    assert code == 2


def test_key_revoke_then_verify(run) -> None:  # type: ignore[no-untyped-def]
    out = run("key", "issue", "source", "court-feed", "--source", "court")[1]
    key = out.rstrip("\n").split("\n")[-1]
    code, out = run("key", "revoke", "1")
    assert code == 0 and "revoked source key #1" in out and key[:12] in out
    code, out = run("key", "revoke", key[:15])
    assert code == 2 and "was revoked at" in out
    code, out = run("key", "revoke", "cred_src_nothere")
    assert code == 2 and "no key 'cred_src_nothere'" in out
    assert run("rulebook", "publish", "sesame-style")[0] == 0
    code, out = run("verify")
    assert code == 0 and "ok: 5 entries" in out, out


def test_rulebook_publish_and_list(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out = run("rulebook", "list")
    assert code == 0 and "gov-default" in out and "(by default)  live" in out
    code, out = run("rulebook", "publish", "suining-2010")
    assert code == 0 and "suining-2010 published: live now" in out
    assert "sha256:" in out and "ledger entry #2" in out
    code, out = run("rulebook", "publish", "suining-2010")
    assert code == 0 and "already live: nothing published" in out
    code, out = run("rulebook", "list")
    published = out.split("published (the latest is live):")[1]
    assert "suining-2010" in published and published.rstrip().endswith("live")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rulebook: bad\nversion: 1\n")
    code, out = run("rulebook", "publish", str(bad))
    assert code == 2 and "bad.yaml" in out and "field" in out


def test_rulebook_list_without_a_registry(tmp_path: Path) -> None:
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "none")}
    result = CliRunner().invoke(app, ["rulebook", "list"], env=env)
    assert result.exit_code == 0 and "no registry here" in result.output
    assert not (tmp_path / "none" / "credence.db").exists()


def test_no_cli_module_imports_main() -> None:
    """Commands take their helpers from cli/common.py: main only assembles (no cycle)."""
    cli = Path(__file__).resolve().parents[2] / "credence" / "cli"
    for path in cli.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                assert "credence.cli.main" not in names, path.name


def test_score_and_explain_apply_the_live_rulebook(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without --rulebook the CLI scores under what the service applies: gov-default until a
    rulebook is published, then the published one; --rulebook still names another."""
    out_file = str(tmp_path / "scores.jsonl")
    code, out = run("score", "--out", out_file)
    assert code == 0 and "gov-default" in out, out
    assert run("rulebook", "publish", "sesame-style")[0] == 0
    code, out = run("score", "--out", out_file)
    assert code == 0 and "sesame-style" in out and "gov-default" not in out, out
    code, out = run("explain", PERSON, "--json")
    assert code == 0 and '"name": "sesame-style"' in out, out
    code, out = run("score", "--out", out_file, "--rulebook", "suining-2010")
    assert code == 0 and "suining-2010" in out and "sesame-style" not in out, out
