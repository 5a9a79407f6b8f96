"""The hostile-input corpus (issue 8), run against the real `credence` command.

Every case of tests/hostile/corpus.py gets a copy of one small registry
(initialised, a `court` source, two records about the planted subject), writes
its files, and runs its command(s) as a subprocess of the installed `credence`
script, in a session of its own, with a time limit and a 4 GiB address-space
limit. Then, for every case:

- no `Traceback` in stdout or stderr, and the exit code the case expects;
- a refusal (exit 2) says `error`, and says it briefly (at most MAX_OUTPUT
  characters: a hostile file must not be echoed back);
- no output names the planted resident ID or attribute value, the subject-hash
  key, any record's salt or the signing key; the rejects file names none of
  the secrets either, and none of its cells starts with = + - @ tab or CR
  (OWASP CSV-injection neutralisation);
- `credence verify` passes afterwards (run in-process: 50 ms, not 1.3 s);
- the registry holds the new records the case expects, and none after a
  refusal; the expected fields are named in the rejects file;
- no stray file beside the input (temporary rejects files and the like), and
  no process left running in the command's process group.

YAML cases also report each refusal's wall time and peak RSS (the whole
process, start-up included: compare `control-valid-catalogue`), as the issue
asks for "refused within 1 s and 100 MB"; the test asserts outcomes, not times.

All failures are collected and reported in one assertion with a table. The
full corpus (154 hostile cases and 2 controls, about 4 minutes on 2 cores) is marked `hostile`
(`pytest -m hostile`; `.ci/run` runs it); a 10-case smoke subset runs by default.
A corpus kept outside the project runs with CREDENCE_HOSTILE_CORPUS=DIR: every
file in DIR is ingested (or checked, for .yaml/.yml) with the same checks, any
exit code of 0 or 2 being allowed.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.hostile.corpus import (
    CASES,
    PLANT_CASE,
    PLANT_RIC,
    SOURCE,
    SOURCE_ITEMS,
    Case,
    Ctx,
    Plan,
    csv_text,
    good,
    ingest,
)

SEED_ROWS = 2  # records in the template registry before any case
MAX_OUTPUT = 10_000  # characters of stdout + stderr a command may print
ADDRESS_SPACE = 4 * 1024**3
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ON_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# A small launcher: sets the address-space limit, runs the command as its child and writes the
# child's peak RSS to a file. (Forked from this large pytest process instead, the command's
# peak RSS would start at pytest's own: Linux keeps the high-water mark across fork and exec.)
_LAUNCHER = """
import os, resource, sys
limit, report = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    fh.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


# --- running commands ---------------------------------------------------------------------


def cli() -> list[str]:
    script = Path(sys.executable).with_name("credence")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from credence.cli.main import app; app()"]


def base_env(data: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")}
    env.update(CREDENCE_DATA_DIR=str(data), COLUMNS="120", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


@dataclass
class Run:
    argv: list[str]
    code: int = -1
    out: str = ""
    seconds: float = 0.0
    peak_mb: float = 0.0
    timed_out: bool = False
    leftovers: list[str] = field(default_factory=list)


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes in process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append(f"{entry.name} {cmd.strip()[:100]}")
    return found


def run_commands(
    commands: list[list[str]], env: dict[str, str], cwd: Path, timeout: float, parallel: bool
) -> list[Run]:
    """Run `credence` commands (all at once if `parallel`), each in its own session."""
    if not parallel:
        return [r for argv in commands for r in run_commands([argv], env, cwd, timeout, True)]
    runs = [Run(argv) for argv in commands]
    procs = []
    files = []
    for i, run in enumerate(runs):
        out = (cwd / f"out-{i}-{time.monotonic_ns()}.txt").open("w+b")
        files.append(out)
        rss = Path(out.name).with_suffix(".rss")
        argv = [sys.executable, "-c", _LAUNCHER, str(ADDRESS_SPACE), str(rss), *cli(), *run.argv]
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True
        )
        procs.append((proc, started))
    deadline = time.monotonic() + timeout
    pending = set(range(len(runs)))
    while pending:
        for i in sorted(pending):
            proc, started = procs[i]
            if proc.poll() is None:
                continue
            runs[i].code = proc.returncode
            runs[i].seconds = time.perf_counter() - started
            pending.discard(i)
        if pending and time.monotonic() > deadline:
            for i in pending:
                runs[i].timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(procs[i][0].pid, signal.SIGKILL)
            deadline = float("inf")
        if pending:
            time.sleep(0.005)
    for (proc, _), run, out in zip(procs, runs, files, strict=True):
        run.leftovers = _reap_group(proc.pid)
        out.seek(0)
        run.out = out.read().decode("utf-8", errors="replace")
        out.close()
        Path(out.name).unlink()
        rss = Path(out.name).with_suffix(".rss")
        with contextlib.suppress(OSError, ValueError):
            run.peak_mb = int(rss.read_text()) / 1024
        rss.unlink(missing_ok=True)
    return runs


def _reap_group(pgid: int) -> list[str]:
    """Wait up to 3 s for the command's group to empty; kill and name what is left."""
    deadline = time.monotonic() + 3
    members = _group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.05)
        members = _group_members(pgid)
    if members:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return members


def must(env: dict[str, str], cwd: Path, *args: str) -> None:
    (run,) = run_commands([list(args)], env, cwd, 120, False)
    assert run.code == 0, f"credence {' '.join(args)}: {run.out}"


# --- the registry template and its secrets ------------------------------------------------


def make_template(root: Path) -> Path:
    """An initialised registry with the `court` source and SEED_ROWS records about PLANT_RIC."""
    data = root / "template"
    root.mkdir(parents=True, exist_ok=True)
    env = base_env(data)
    must(env, root, "init")
    must(env, root, "source", "add", SOURCE, "--items", SOURCE_ITEMS)
    seed = root / "seed.csv"
    seed.write_text(csv_text([good(reference=f"SEED-{i}") for i in range(SEED_ROWS)]))
    must(env, root, *ingest(seed))
    return data


@contextlib.contextmanager
def _db(data: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{data / 'credence.db'}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def record_count(data: Path) -> int:
    with _db(data) as conn:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def secrets(data: Path) -> dict[str, str]:
    """Values no output may contain: {value: label}."""
    found: dict[str, str] = {}
    key = (data / "subject-key").read_text().strip()
    found[key] = "subject-hash key"
    found[key[: len(key) // 2]] = "subject-hash key (half)"
    for line in (data / "signing-key.pem").read_text().splitlines():
        if line and not line.startswith("-----"):
            found[line] = "signing key"
    with _db(data) as conn:
        for (salt,) in conn.execute("SELECT hex(salt) FROM records"):
            found[salt] = found[salt.lower()] = "a record's salt"
    return found


PLANTED = {
    PLANT_RIC: "planted resident ID",
    PLANT_RIC[4:]: "planted resident ID",
    PLANT_CASE: "planted attribute value",
}


# --- one case -----------------------------------------------------------------------------


@dataclass
class Result:
    case: Case
    runs: list[Run] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""
    traceback: bool = False
    leaks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> str:
        return "/".join("timeout" if r.timed_out else str(r.code) for r in self.runs) or "-"


@dataclass
class Prepared:
    case: Case
    ctx: Ctx
    plan: Plan | None
    before: set[str]
    runs: list[Run]
    error: str = ""


def prepare_and_run(case: Case, template: Path, root: Path) -> Prepared:
    """Copy the registry, write the case's files and run its commands (in a worker thread)."""
    home = root / case.name
    ctx = Ctx(home / "in", home / "data", home / "scratch")
    shutil.copytree(template, ctx.data, symlinks=True)
    ctx.inputs.mkdir()
    ctx.scratch.mkdir()
    if case.root_skip and ON_ROOT:
        return Prepared(case, ctx, None, set(), [], error="skip: running as root")
    try:
        plan = case.write(ctx)
    except Exception as exc:  # a broken case is a failure, not a crash of the run
        return Prepared(case, ctx, None, set(), [], error=f"writing the case failed: {exc!r}")
    before = set(os.listdir(ctx.inputs))
    env = base_env(ctx.data, plan.env)
    runs = run_commands(plan.commands, env, ctx.scratch, plan.timeout, plan.parallel)
    return Prepared(case, ctx, plan, before, runs)


def verify(data: Path) -> tuple[int, str]:
    """`credence verify` in-process (same command, without 1.3 s of start-up)."""
    from credence.cli.main import app

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CREDENCE_")}
    env["CREDENCE_DATA_DIR"] = str(data)
    result = CliRunner().invoke(app, ["verify"], env=env)
    out = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        out += f"\nTraceback (in-process): {result.exception!r}"
    return result.exit_code, out


def _matches(expected: str, fields: set[str]) -> bool:
    for want in expected.split("|"):
        if any(f == want or f.startswith(want + ".") for f in fields):
            return True
    return False


def _read_rejects(path: Path) -> list[list[str]]:
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a rejected row may hold a 10 MB cell
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            return list(csv.reader(fh))
    finally:
        csv.field_size_limit(limit)


def judge(prep: Prepared) -> Result:
    """All the checks on a case that has run (in the main thread)."""
    case, ctx, plan = prep.case, prep.ctx, prep.plan
    result = Result(case, prep.runs)
    if prep.error.startswith("skip:"):
        result.skipped = prep.error[6:]
        return result
    if plan is None:
        result.problems.append(prep.error)
        return result
    problems = result.problems
    codes = [r.code for r in prep.runs]
    for run in prep.runs:
        if run.timed_out:
            problems.append(f"timed out after {plan.timeout:.0f} s")
            continue
        if "Traceback" in run.out:
            result.traceback = True
            problems.append("traceback: " + _tail(run.out))
        if run.code not in case.exit:
            problems.append(f"exit {run.code}, expected {case.expected}: {_tail(run.out)}")
        if run.code == 2:
            lowered = run.out.lower()
            if "error" not in lowered:
                problems.append(f"refused without saying error: {_tail(run.out)}")
            if case.message and not any(w.lower() in lowered for w in case.message.split("|")):
                problems.append(f"message lacks {case.message!r}: {_tail(run.out)}")
        if len(run.out) > MAX_OUTPUT:
            problems.append(f"printed {len(run.out):,} characters (over {MAX_OUTPUT:,})")
        for bad in case.forbid:
            if bad in run.out:
                problems.append(f"output contains {bad!r}")
        if run.leftovers:
            problems.append(f"left running: {run.leftovers}")
    verify_code, verify_out = verify(ctx.data)
    if verify_code != 0 or "Traceback" in verify_out:
        problems.append(f"verify exit {verify_code}: {_tail(verify_out)}")
    # Leaks: planted values and secrets in any output; secrets in any rejects file.
    hidden = secrets(ctx.data)
    for run in prep.runs:
        for value, label in (PLANTED | hidden).items():
            if value and value in run.out:
                result.leaks.append(label)
    for value, label in hidden.items():
        if value in verify_out:
            result.leaks.append(label + " (in verify)")
    rejects_files = [p.with_name(p.name + ".rejects.csv") for p in plan.inputs]
    fields: set[str] = set()
    for rejects in rejects_files:
        if not rejects.is_file() or rejects.is_symlink():
            continue
        text = rejects.read_text(encoding="utf-8", errors="replace")
        for value, label in hidden.items():
            if value in text:
                result.leaks.append(label + " (in the rejects file)")
        rows = _read_rejects(rejects)
        fields |= {r[1] for r in rows[1:] if len(r) > 1}
        unsafe = [c for r in rows for c in r if c.startswith(FORMULA_PREFIXES)]
        if unsafe:
            problems.append(f"rejects cells not neutralised: {sorted(set(unsafe))[:4]}")
    for label in sorted(set(result.leaks)):
        problems.append(f"leaked {label}")
    # What the registry holds, and what the rejects file names.
    held = record_count(ctx.data) - SEED_ROWS
    all_ok = bool(codes) and all(c == 0 for c in codes)
    if codes and all(c == 2 for c in codes) and held != 0:
        problems.append(f"refused, yet {held} record(s) written")
    if all_ok and case.held is not None and held != case.held:
        problems.append(f"{held} new record(s) held, expected {case.held}")
    if all_ok and case.rejects is not None:
        if case.rejects == () and fields:
            problems.append(f"unexpected rejects: {sorted(fields)}")
        for want in case.rejects:
            if not _matches(want, fields):
                problems.append(f"rejects file does not name {want!r} (names {sorted(fields)})")
    # Stray files beside the input.
    allowed = prep.before | {r.name for r in rejects_files}
    stray = sorted(set(os.listdir(ctx.inputs)) - allowed)
    if stray:
        problems.append(f"stray files beside the input: {stray}")
    if plan.check is not None:
        problems.extend(plan.check())
    return result


def _tail(text: str, limit: int = 240) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if any("Traceback" in line for line in lines):
        last = lines[-1] if lines else ""
        return f"... {last[:limit]}"
    flat = " | ".join(lines)
    return flat[:limit] + ("..." if len(flat) > limit else "")


# --- the corpus run -----------------------------------------------------------------------


def run_corpus(cases: list[Case], root: Path) -> list[Result]:
    template = make_template(root / "registry")
    work = root / "cases"
    work.mkdir()
    results: dict[str, Result] = {}
    # The slow cases (time limits, big files) first, so they overlap the rest.
    slow = {"input-is-fifo", "yaml-fifo", "input-is-dev-zero", "jsonl-10mb-attribute"}
    ordered = sorted(cases, key=lambda c: c.name not in slow)
    workers = max(2, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: list[Future[Prepared]] = [
            pool.submit(prepare_and_run, c, template, work) for c in ordered
        ]
        for future in futures:
            prep = future.result()
            try:
                results[prep.case.name] = judge(prep)
            except Exception as exc:  # a check that cannot run is a failure of that case
                results[prep.case.name] = Result(prep.case, prep.runs, [f"checks failed: {exc!r}"])
            shutil.rmtree(work / prep.case.name, ignore_errors=True)
    return [results[c.name] for c in cases]


def report(results: list[Result], seconds: float) -> str:
    lines = [f"{'case':42} {'expected':36} {'got':9} {'time':>6} {'MB':>6}  result"]
    for r in results:
        run = r.runs[0] if r.runs else Run([])
        status = "skip" if r.skipped else ("ok" if r.ok else "FAIL")
        lines.append(
            f"{r.case.name:42} {r.case.expected[:36]:36} {r.codes:9} "
            f"{run.seconds:6.2f} {_mb(run):>6}  {status}"
        )
    yaml = [r for r in results if r.case.kind == "yaml" or r.case.name == "control-valid-catalogue"]
    if yaml:
        lines.append("")
        lines.append("YAML refusals (whole process, start-up included; baseline: control):")
        lines.append(f"{'case':42} {'exit':>7} {'seconds':>8} {'peak MB':>8}")
        for r in yaml:
            run = r.runs[0] if r.runs else Run([])
            lines.append(f"{r.case.name:42} {r.codes:>7} {run.seconds:8.2f} {_mb(run):>8}")
    hostile = [r for r in results if r.case.kind != "control"]
    passed = sum(1 for r in hostile if r.ok and not r.skipped)
    skipped = sum(1 for r in hostile if r.skipped)
    tracebacks = sum(1 for r in results if r.traceback)
    leaks = sum(1 for r in results if r.leaks)
    lines.append("")
    lines.append(
        f"corpus: {len(hostile)} hostile cases (+{len(results) - len(hostile)} controls), "
        f"{passed} passed, {len(hostile) - passed - skipped} failed, {skipped} skipped; "
        f"{tracebacks} with tracebacks, {leaks} with leaks; {seconds:.0f} s"
    )
    return "\n".join(lines)


def _mb(run: Run) -> str:
    return f"{run.peak_mb:.0f}" if run.peak_mb else "-"


def failures(results: list[Result]) -> str:
    bad = [r for r in results if not r.ok and not r.skipped]
    lines = [f"{len(bad)} case(s) failed:"]
    for r in bad:
        lines.append(f"- {r.case.name} (expected {r.case.expected}; got {r.codes})")
        lines.extend(f"    {p}" for p in r.problems)
    return "\n".join(lines)


def _run_and_assert(cases: list[Case], root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    results = run_corpus(cases, root)
    with capsys.disabled():
        print("\n" + report(results, time.perf_counter() - started))
    problems = [r for r in results if not r.ok and not r.skipped]
    assert not problems, failures(results)


def test_corpus_is_big_enough() -> None:
    hostile = [c for c in CASES if c.kind != "control"]
    assert len(hostile) >= 60
    assert len([c for c in hostile if c.smoke]) == 10
    assert Counter(c.kind for c in hostile).keys() >= {"ingest", "yaml", "explain", "file"}


def test_corpus_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ten hostile cases (and one control) of every kind, in the default run."""
    _run_and_assert([c for c in CASES if c.smoke], tmp_path, capsys)


@pytest.mark.hostile
def test_corpus_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every case of the corpus (`pytest -m hostile`)."""
    _run_and_assert(list(CASES), tmp_path, capsys)


# --- a corpus kept outside the project ----------------------------------------------------


def external_cases(directory: Path) -> list[Case]:
    """Every regular file of CREDENCE_HOSTILE_CORPUS as a case allowing exit 0 or 2."""
    cases = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        name = "external:" + str(path.relative_to(directory))

        def write(ctx: Ctx, src: Path = path) -> Plan:
            copy = ctx.inputs / src.name
            shutil.copyfile(src, copy)
            if src.suffix.lower() in (".yaml", ".yml"):
                return Plan([["catalogue", "check", str(copy)], ["rulebook", "check", str(copy)]])
            return Plan([ingest(copy)], inputs=[copy], timeout=60)

        cases.append(Case(name.replace("/", "__"), write, (0, 2), kind="external"))
    return cases


def test_external_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = os.environ.get("CREDENCE_HOSTILE_CORPUS")
    if not directory:
        pytest.skip("set CREDENCE_HOSTILE_CORPUS=DIR to run a corpus kept outside the project")
    cases = external_cases(Path(directory))
    assert cases, f"no files in {directory}"
    _run_and_assert(cases, tmp_path, capsys)
