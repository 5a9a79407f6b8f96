"""The service over HTTP (issue 9): the floor, checks, single submits and batch submission.

One `credence serve` process (one uvicorn worker) on 127.0.0.1, over a
synthetic city built by `credence demo`, loaded by wrk (one thread, so the
server keeps the other of the machine's cores; both share the machine):

1. the floor: `GET /v1/health` at concurrency 16, what the HTTP stack alone costs;
2. checks: `POST /v1/checks` at concurrency 16 over distinct subjects from the
   store: first checks (each subject's first since the server started, answered
   from the answers it prepared at start-up, credence.service.prepared), then
   warm (the same subjects again, from the per-subject cache), each reconciled
   against the rows the inquiry log wrote durably; and, on a second server
   started with `CREDENCE_PREPARE_ANSWERS=false`, the same first checks computed
   on the store (what a check costs after its subject's record changed);
3. single-record submits: `POST /v1/records`, one new record per request, at
   concurrency 1 and 4;
4. batch submission: batches of 5,000 new records posted by a Python client to a
   server on a fresh SQLite registry, then to one on a fresh PostgreSQL database.

Every wrk load runs for a fixed time after a warm-up that is not counted;
latencies and counts come from a Lua `done()` that prints JSON.

Usage: python benchmarks/bench_service.py [--subjects N] [--seconds S] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from measure import machine
from table import Figure, add

RESULTS = Path(__file__).with_name("RESULTS.md")
CREDENCE = Path(sys.executable).parent / "credence"
WRK = "/usr/bin/wrk"
CONNECTIONS = 16
BATCH = 5_000
PURPOSE = "flight-booking"
ITEM = "judicial.defaulter-listed"
PG_HOST, PG_PORT, PG_USERS = "127.0.0.1", 5432, ("postgres", "root")
CHECK_P99_MS = 10.0
PG_TARGET = 20_000

# --- wrk scripts ---------------------------------------------------------------------------

# Shared by every script: threads are kept at setup so done() can read their counters;
# done() prints one JSON line (latencies in microseconds) for the benchmark to parse.
LUA_COMMON = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
sent, ok, other = 0, 0, 0
function done(summary, latency, requests)
  local s, o, x = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + (t:get("sent") or 0)
    o = o + (t:get("ok") or 0)
    x = x + (t:get("other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, ' ..
    '"p999_us": %.1f, "max_us": %.1f, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "sent": %d, "ok": %d, "other": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    s, o, x))
end
"""

# Counting each response's status (2xx or not) and each request sent: the checks and
# submits are reconciled against what the server wrote. The floor does without (cheaper).
LUA_COUNTING = r"""
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
end
local subjects, n, i = {}, 0, 0
local function load(path, limit, key)
  wrk.headers["Authorization"] = "Bearer " .. key
  for line in io.lines(path) do n = n + 1; subjects[n] = line end
  limit = tonumber(limit)
  if limit and limit > 0 and limit < n then n = limit end
  wrk.headers["Content-Type"] = "application/json"
end
local function next_subject()
  i = i + 1
  sent = sent + 1
  return subjects[((i - 1) % n) + 1]
end
"""

# args: subjects file, how many of its first lines to cycle through (0: all), the key.
LUA_CHECKS = r"""
function init(args) load(args[1], args[2], args[3]) end
function request()
  local s = next_subject()
  return wrk.format("POST", nil, nil, '{"subject":"' .. s .. '","purpose":"@PURPOSE@"}')
end
"""

# args: subjects file, 0, the key, a run tag; each request one new record, reference
# tag-thread-n.
LUA_SUBMIT = r"""
local tag
function init(args) load(args[1], args[2], args[3]); tag = args[4] end
function request()
  local s = next_subject()
  local ref = tag .. "-" .. id .. "-" .. i
  return wrk.format("POST", nil, nil, [==[@A@]==] .. ref .. [==[@B@]==] .. s .. [==[@C@]==])
end
"""


def lua_scripts(into: Path) -> dict[str, Path]:
    """Write the three wrk scripts (floor, checks, submit) into `into`."""
    record = json.dumps(new_record("@REF@", "@SUBJECT@", record_day()), separators=(",", ":"))
    a, rest = record.split("@REF@")
    b, c = rest.split("@SUBJECT@")
    submit = LUA_SUBMIT.replace("@A@", a).replace("@B@", b).replace("@C@", c)
    texts = {
        "floor": LUA_COMMON,
        "checks": LUA_COMMON + LUA_COUNTING + LUA_CHECKS.replace("@PURPOSE@", PURPOSE),
        "submit": LUA_COMMON + LUA_COUNTING + submit,
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = into / f"{name}.lua"
        paths[name].write_text(text, encoding="ascii")
    return paths


@dataclass
class Load:
    """What one wrk run measured (latencies in ms)."""

    requests: int
    seconds: float
    p50: float
    p99: float
    p999: float
    max: float
    socket_errors: int
    non_2xx: int
    sent: int  # requests written (counting scripts only)
    ok: int  # 2xx responses (counting scripts only; else requests - non-2xx)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def wrk(script: Path, url: str, connections: int, seconds: float, *args: str) -> Load:
    """One bounded wrk run with one thread (the server keeps the other core)."""
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s"]
    cmd += [str(script), url]
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    counted = raw["sent"] > 0
    return Load(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50=raw["p50_us"] / 1000,
        p99=raw["p99_us"] / 1000,
        p999=raw["p999_us"] / 1000,
        max=raw["max_us"] / 1000,
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        non_2xx=raw["other"] if counted else raw["status"],
        sent=raw["sent"],
        ok=raw["ok"] if counted else raw["requests"] - raw["status"],
    )


def need_wrk() -> None:
    """wrk is the load tool; without it there is nothing to measure."""
    if not Path(WRK).exists() and shutil.which("wrk") is None:
        # Skipped, not failed: the rest of `make bench` still runs and records its table.
        print("bench_service skipped: wrk is missing (apt-get install wrk)", file=sys.stderr)
        sys.exit(0)


# --- the registry and the server -----------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any CREDENCE_* setting, plus `extra` (so nothing leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")}
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run the venv's `credence` with `args`; its output (raises on failure)."""
    done = subprocess.run([str(CREDENCE), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"credence {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def issue_key(env: dict[str, str], *args: str) -> str:
    """A new key: `credence key issue` prints it alone on its last line."""
    return cli(env, "key", "issue", *args).strip().splitlines()[-1].strip()


def build_city(data: Path, subjects: int) -> float:
    """The demo's synthetic city, ingested and scored, in `data` (kept if already there:
    `--dir`, while working on this script); seconds it took."""
    started = time.perf_counter()
    if (data / "scores-gov-default.jsonl").exists():
        return 0.0
    env = clean_env(
        CREDENCE_DATA_DIR=str(data),
        CREDENCE_DEMO_SUBJECTS=str(subjects),
        CREDENCE_DEMO_NO_SERVE="1",
    )
    cli(env, "demo")
    return time.perf_counter() - started


@dataclass
class Subjects:
    """Distinct subjects of the store: the measured ones, and others for warming up."""

    measured: list[str]
    warmup: list[str]
    listed: int  # how many measured subjects are on a list (gov-default)
    with_records: int  # subjects with records in the store


def pick_subjects(data: Path, wanted: int, seed: int = 9) -> Subjects:
    """`wanted` subjects with records (listed or clean, as they come) plus a tenth more."""
    with contextlib.closing(sqlite3.connect(data / "credence.db")) as db:
        found = sorted(s for (s,) in db.execute("SELECT DISTINCT subject FROM records"))
    random.Random(seed).shuffle(found)
    warm = max(1, min(wanted // 10, len(found) // 11))
    measured, warmup = found[warm : warm + wanted], found[:warm]
    listed = set()
    with (data / "scores-gov-default.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["lists"]:
                listed.add(row["subject"])
    return Subjects(measured, warmup, sum(s in listed for s in measured), len(found))


def court_source(data: Path) -> str:
    """The city's source whose patterns cover judicial.*."""
    manifest = json.loads((data / "demo-city" / "manifest.json").read_text(encoding="utf-8"))
    return next(s["name"] for s in manifest["sources"] if "judicial.*" in s["patterns"])


def inquiry_rows(data: Path) -> int:
    """Rows in the inquiry log (SQLite), read beside the running server."""
    with contextlib.closing(sqlite3.connect(data / "credence.db")) as db:
        return int(db.execute("SELECT count(*) FROM inquiries").fetchone()[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[str]:
    """A `credence serve` process on a free port, until SIGTERM; yields its base URL."""
    port = free_port()
    env = {**env, "CREDENCE_HOST": "127.0.0.1", "CREDENCE_PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen([str(CREDENCE), "serve"], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /v1/ready until it answers 200 (start-up opens the store and warms caches)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"credence serve exited ({proc.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            # Ready, not only alive: start-up warm-up would otherwise compete with the load.
            if httpx.get(f"{base}/v1/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"credence serve did not answer within 120 s:\n{log.read_text()}")


# --- records -------------------------------------------------------------------------------


def record_day() -> str:
    """A recent past day for the new records' dates (a future date is refused)."""
    return (dt.date.today() - dt.timedelta(days=30)).isoformat()


def new_record(reference: str, subject: str, day: str) -> dict[str, Any]:
    """A valid judicial.defaulter-listed record (the shape of tests/service/conftest.py)."""
    return {
        "reference": reference,
        "item": ITEM,
        "subject": subject,
        "occurred_on": day,
        "decided_on": day,
        "attributes": {"case_number": "(2026)京0105执1号", "ground": 1},
    }


# --- the phases ----------------------------------------------------------------------------


@dataclass
class Checked:
    """A check phase: the load, and the inquiry rows it made (durability)."""

    load: Load
    rows: int  # rows the inquiry log gained during the phase
    subjects: int  # distinct subjects the phase cycles through

    @property
    def wrapped(self) -> bool:
        """More checks sent than subjects: some subjects were checked twice in the phase."""
        return self.load.sent > self.subjects

    @property
    def in_flight(self) -> int:
        """Checks sent but not answered when wrk stopped at its deadline."""
        return self.load.sent - self.load.ok - self.load.non_2xx

    @property
    def logged(self) -> bool:
        """Every answered check has its row, and no row is without a check sent."""
        return self.load.non_2xx == 0 and self.load.ok <= self.rows <= self.load.sent


@dataclass
class Results:
    floor: Load
    cold: Checked  # each subject's first check since start-up (answers prepared at start-up)
    warm: Checked
    computed: Checked  # first checks on a server without prepared answers (on the store)
    submits: dict[int, Load]
    batch: dict[str, tuple[int, float]]  # database -> (records accepted, wall seconds)


@dataclass
class Setup:
    """What the loads run against: the server's URL, keys, scripts and files."""

    url: str
    data: Path
    scripts: dict[str, Path]
    measured: Path  # the measured subjects, one a line
    warming: Path  # other subjects, for the checks' warm-up
    rp_key: str
    source_key: str
    seconds: float
    warmup: float
    first_seconds: float  # the first-check phases' length


def settle() -> None:
    """Let the requests wrk left in flight at its deadline finish (they are still logged)."""
    time.sleep(1.0)


def floor(s: Setup) -> Load:
    """GET /v1/health: what one request costs with no work behind it."""
    wrk(s.scripts["floor"], f"{s.url}/v1/health", CONNECTIONS, s.warmup)
    load = wrk(s.scripts["floor"], f"{s.url}/v1/health", CONNECTIONS, s.seconds)
    print(f"floor: {load.rate:,.0f} requests/s, p99 {load.p99:.2f} ms, errors {load.errors}")
    return load


def check_load(s: Setup, subjects: Path, limit: int, seconds: float) -> Load:
    """wrk on /v1/checks over the first `limit` lines of `subjects` (0: all)."""
    url = f"{s.url}/v1/checks"
    return wrk(s.scripts["checks"], url, CONNECTIONS, seconds, str(subjects), str(limit), s.rp_key)


def check_phase(s: Setup, limit: int, label: str, seconds: float | None = None) -> Checked:
    """One measured check load over the first `limit` measured subjects, with the rows it
    logged."""
    before = inquiry_rows(s.data)
    load = check_load(s, s.measured, limit, seconds or s.seconds)
    settle()
    rows = inquiry_rows(s.data) - before
    print(
        f"checks {label}: {load.rate:,.0f}/s, p99 {load.p99:.2f} ms, {load.ok:,} answered 2xx, "
        f"{load.sent:,} sent, inquiry rows +{rows:,}, errors {load.errors}"
    )
    return Checked(load, rows, limit)


def checks(s: Setup, measured: int) -> tuple[Checked, Checked]:
    """Cold then warm checks; the cold phase's warm-up uses other subjects, so that each
    measured check is its subject's first since the server started."""
    check_load(s, s.warming, 0, s.warmup)
    settle()
    # Shorter, so that it does not go round its subjects again (then some would be repeats).
    cold = check_phase(s, measured, "first (prepared)", s.first_seconds)
    # Warm: only the subjects the cold phase checked, so every answer may come from the cache.
    seen = min(cold.load.sent, measured)
    check_load(s, s.measured, seen, s.warmup)
    settle()
    return cold, check_phase(s, seen, "warm")


def submits(s: Setup) -> dict[int, Load]:
    """POST /v1/records, one new record per request, at concurrency 1 and 4."""
    out: dict[int, Load] = {}
    url = f"{s.url}/v1/records"
    for connections in (1, 4):
        for seconds in (s.warmup, s.seconds):
            args = (str(s.measured), "0", s.source_key, run_tag())
            load = wrk(s.scripts["submit"], url, connections, seconds, *args)
        print(
            f"submit c={connections}: {load.rate:,.1f}/s, p50 {load.p50:.1f} ms, "
            f"p99 {load.p99:.1f} ms, {load.ok:,} answered 201, errors {load.errors}"
        )
        out[connections] = load
        settle()
    return out


def run_tag() -> str:
    """A prefix no earlier reference has: each run's records are new."""
    return f"S{secrets.token_hex(4)}"


def batch_loop(url: str, key: str, subjects: list[str], batches: int) -> tuple[int, float]:
    """Post `batches` batches of new records; (records accepted, wall seconds of the loop).

    The records are built first; the time covers JSON encoding, HTTP, the server's
    validation and append, and decoding the receipts, batch after batch."""
    tag, day = run_tag(), record_day()
    bodies = [
        {
            "records": [
                new_record(f"B{tag}-{b}-{n}", subjects[(b * BATCH + n) % len(subjects)], day)
                for n in range(BATCH)
            ]
        }
        for b in range(batches)
    ]
    accepted = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        for body in bodies:
            # orjson, as a loading client would: the standard library's json spends
            # about 10 µs a record encoding the batch and decoding its receipts.
            got = client.post("/v1/records", content=orjson.dumps(body))
            if got.status_code != 201:
                raise RuntimeError(f"batch refused: {got.status_code} {got.text[:500]}")
            accepted += int(orjson.loads(got.content)["accepted"])
        seconds = time.perf_counter() - started
    return accepted, seconds


def batch_into(
    env: dict[str, str], data: Path, subjects: list[str], batches: int
) -> tuple[int, float]:
    """A fresh registry (`env` says which database), one source and its key; the loop."""
    env = {**env, "CREDENCE_DATA_DIR": str(data)}
    cli(env, "init")
    cli(env, "source", "add", "bench-court", "--items", "judicial.*")
    key = issue_key(env, "source", "bench-court", "--source", "bench-court")
    with server(env, data.parent / f"{data.name}.log") as url:
        return batch_loop(url, key, subjects, batches)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A new PostgreSQL database for this run, dropped afterwards; its SQLAlchemy URL."""
    import psycopg

    admin, user = None, ""
    for user in PG_USERS:
        with contextlib.suppress(psycopg.OperationalError):
            admin = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", autocommit=True
            )
            break
    if admin is None:
        raise RuntimeError(f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable")
    name = f"credence_bench_{secrets.token_hex(6)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        admin.close()


def batches(tmp: Path, subjects: list[str], count: int) -> dict[str, tuple[int, float]]:
    """Batch submission into a fresh SQLite registry, then a fresh PostgreSQL database."""
    out = {"SQLite": batch_into(clean_env(), tmp / "batch-sqlite", subjects, count)}
    with pg_database() as url:
        env = clean_env(CREDENCE_DB_URL=url)
        out["PostgreSQL"] = batch_into(env, tmp / "batch-pg", subjects, count)
    for db, (n, seconds) in out.items():
        print(f"batch into {db}: {n:,} records in {seconds:.2f} s: {n / seconds:,.0f} records/s")
    return out


# --- the run -------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[Subjects, dict[str, str], Setup]:
    """Build the city, pick the subjects, issue the two keys, write the wrk scripts."""
    data = args.dir or tmp / "city"
    built = build_city(data, args.subjects)
    print(f"city of {args.subjects:,} subjects built, ingested and scored in {built:.0f} s")
    subjects = pick_subjects(data, args.checks)
    env = clean_env(CREDENCE_DATA_DIR=str(data))
    measured, warming = tmp / "subjects.txt", tmp / "warmup-subjects.txt"
    measured.write_text("\n".join(subjects.measured) + "\n", encoding="ascii")
    warming.write_text("\n".join(subjects.warmup) + "\n", encoding="ascii")
    setup = Setup(
        url="",
        data=data,
        scripts=lua_scripts(tmp),
        measured=measured,
        warming=warming,
        rp_key=issue_key(env, "relying-party", "bench-airline", "--purposes", PURPOSE),
        source_key=issue_key(env, "source", "bench-court", "--source", court_source(data)),
        seconds=args.seconds,
        warmup=args.warmup,
        first_seconds=args.first_seconds,
    )
    return subjects, env, setup


def run(args: argparse.Namespace, tmp: Path) -> tuple[Results, Subjects]:
    """Every load against one server over the city; then the two batch servers."""
    subjects, env, setup = prepare(args, tmp)
    args.load_at_loads = os.getloadavg()[0]
    print(f"load average {args.load_at_loads:.2f} as the loads begin")
    with server(env, tmp / "serve.log") as url:
        setup.url = url
        base = floor(setup)
        cold, warm = checks(setup, len(subjects.measured))
        single = submits(setup)
    # The same first checks on a server that prepares no answers: each is computed on the
    # store, as a check is after its subject's record changes (other warm-up subjects).
    store_env = {**env, "CREDENCE_PREPARE_ANSWERS": "false"}
    with server(store_env, tmp / "serve-store.log") as url:
        setup.url = url
        check_load(setup, setup.warming, 0, setup.warmup)
        settle()
        computed = check_phase(
            setup, len(subjects.measured), "computed on the store", setup.first_seconds
        )
    batch = batches(tmp, subjects.measured, args.batches)
    return Results(base, cold, warm, computed, single, batch), subjects


# --- the report ----------------------------------------------------------------------------


def yes(met: bool) -> str:
    return "yes" if met else "**no**"


def latency(load: Load) -> str:
    return f"p50 {load.p50:.2f} ms, p99 {load.p99:.2f} ms, p99.9 {load.p999:.2f} ms"


def check_rows(label: str, c: Checked, base: Load) -> list[tuple[str, str, str, str]]:
    """The rows of one check phase: throughput against the floor, latency, durability."""
    ratio = c.load.rate / base.rate
    return [
        (
            f"checks {label}, requests/s (c=16, {min(c.subjects, c.load.sent):,} subjects)",
            f"{c.load.rate:,.0f} ({ratio:.2f}x the floor)",
            ">= 0.5x the floor",
            yes(ratio >= 0.5),
        ),
        (
            f"checks {label}, latency",
            latency(c.load),
            "p99 < 10 ms",
            yes(c.load.ok > 0 and c.load.p99 < CHECK_P99_MS),
        ),
        (
            f"checks {label}, logged durably",
            f"inquiry rows +{c.rows:,}; wrk: {c.load.ok:,} answered 2xx, "
            f"{c.in_flight} sent but in flight at its deadline, {c.load.errors} errors",
            "every check logged",
            yes(c.load.ok > 0 and c.logged),
        ),
    ]


def table(r: Results) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, met?) for every measurement."""
    rows = [
        ("floor GET /v1/health, requests/s (c=16)", f"{r.floor.rate:,.0f}", "-", "-"),
        ("floor latency", latency(r.floor) + f", {r.floor.errors} errors", "-", "-"),
    ]
    rows += check_rows("first (prepared)", r.cold, r.floor)
    rows += check_rows("warm", r.warm, r.floor)
    rows += [
        (a, b, "- (fallback)", "-")
        for a, b, _, _ in check_rows("computed on the store", r.computed, r.floor)
    ]
    for c, load in r.submits.items():
        rows.append(
            (
                f"single-record submit, c={c}",
                f"{load.rate:,.1f} requests/s, p50 {load.p50:.1f} ms, p99 {load.p99:.1f} ms; "
                f"{load.ok:,} answered 201, {load.errors} errors",
                "-",
                yes(load.ok > 0 and load.errors == 0) + " (all 201)",
            )
        )
    for db, (n, seconds) in r.batch.items():
        rate = n / seconds
        target = f">= {PG_TARGET:,} records/s" if db == "PostgreSQL" else "-"
        met = yes(rate >= PG_TARGET) if db == "PostgreSQL" else "-"
        rows.append(
            (
                f"batch submission into {db}",
                f"{rate:,.0f} records/s ({n:,} records in {seconds:.2f} s)",
                target,
                met,
            )
        )
    return rows


def markdown(rows: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| figure | value | target | met? |", "|---|---|---|---|"]
    return lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]


def unmet(r: Results) -> list[str]:
    """Each target the run missed, said plainly."""
    out = []
    for label, c in (("first", r.cold), ("warm", r.warm)):
        ratio = c.load.rate / r.floor.rate
        if ratio < 0.5:
            out.append(f"{label} checks reach {ratio:.2f}x the floor's throughput, not 0.5x")
        if c.load.ok == 0:
            out.append(f"{label} checks: none answered")
        elif c.load.p99 >= CHECK_P99_MS:
            out.append(f"{label} checks' p99 is {c.load.p99:.2f} ms, not under 10 ms")
        if not c.logged:
            out.append(f"{label} checks: the inquiry rows do not match the checks answered")
        if c.wrapped and label == "first":
            out.append("the first-check phase went round its subjects again: some were repeats")
    n, seconds = r.batch["PostgreSQL"]
    if n / seconds < PG_TARGET:
        out.append(f"batch submission into PostgreSQL is {n / seconds:,.0f} records/s, not 20,000")
    return out


def record(r: Results, subjects: Subjects, args: argparse.Namespace, load: str) -> None:
    """Append a dated section to RESULTS.md: machine, data, the table, what was missed."""
    missed = unmet(r)
    lines = [
        f"\n### Service over HTTP, one uvicorn worker (issue 9) ({dt.date.today()})\n",
        f"- machine: {machine(load)}; wrk 1 thread and the server share the machine's "
        f"{os.cpu_count()} cores",
        f"- data: synthetic city of {args.subjects:,} subjects built by `credence demo` "
        f"(10 records per subject), {subjects.with_records:,} subjects with records; checks "
        f"over {len(subjects.measured):,} of them drawn at random ({subjects.listed:,} listed "
        f"under gov-default, the rest clean), purpose {PURPOSE}",
        f"- loads: wrk -t1, {args.seconds:g} s each ({args.first_seconds:g} s for first "
        f"checks) after a {args.warmup:g} s warm-up not "
        "counted; the first-check phases' warm-ups check other subjects; single submits are "
        f"one new {ITEM} record each; batches of {BATCH:,} new records ({args.batches} batches, "
        "httpx client, wall time of the whole loop) into fresh registries on SQLite and on "
        "PostgreSQL 127.0.0.1 (`benchmarks/bench_service.py`)",
        "- targets: checks reach at least half the trivial endpoint's throughput, with p99 "
        "under 10 ms at concurrency 16, each check logged durably; batch submission at least "
        "20,000 records/s into PostgreSQL",
        "",
        *markdown(table(r)),
        "",
        "Durability: each check wrk counted as answered (2xx) has its row in the inquiry log, "
        "written before the answer; the few rows beyond those are checks wrk had sent but "
        "stopped waiting for at its deadline (in flight), which the server logged and answered "
        "after wrk had stopped listening.",
    ]
    if missed:
        lines.append("\nTargets not met: " + "; ".join(missed) + ".")
    else:
        lines.append("\nEvery target was met.")
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"recorded in {RESULTS}")


def figures(r: Results) -> list[Figure]:
    """The run's figures for make bench's one table, each beside the floor of this run."""
    out: list[Figure] = []
    health = "GET /v1/health, same server, same run, c=16"
    phases = (("first, prepared", r.cold, True), ("warm", r.warm, True))
    phases += (("computed on the store, the fallback", r.computed, False),)
    for label, c, targeted in phases:
        subjects = f"{min(c.subjects, c.load.sent):,} subjects"
        out.append(
            Figure(
                f"checks {label}, c=16 ({subjects})",
                c.load.rate,
                "requests/s",
                floor=r.floor.rate,
                floor_name=health,
                ratio_at_least=0.5 if targeted else None,
                note=f"{c.load.ok:,} answered, inquiry rows +{c.rows:,}, {c.load.errors} errors",
            )
        )
        out.append(
            Figure(
                f"checks {label}, p99 latency, c=16",
                c.load.p99,
                "ms",
                floor=r.floor.p99,
                floor_name=health,
                at_most=CHECK_P99_MS if targeted else None,
            )
        )
    n, seconds = r.batch["PostgreSQL"]
    out.append(
        Figure(
            f"batch submission over HTTP into PostgreSQL ({n:,} records)",
            n / seconds,
            "records/s",
            at_least=PG_TARGET,
        )
    )
    return out


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = ("figure", "value", "target", "met?")
    for row in (head, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=100_000, help="size of the city")
    parser.add_argument("--checks", type=int, default=45_000, help="distinct subjects checked")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured load")
    parser.add_argument("--warmup", type=float, default=3.0, help="each uncounted warm-up")
    parser.add_argument(
        "--first-seconds", type=float, default=5.0, help="each first-check load (no repeats)"
    )
    parser.add_argument("--batches", type=int, default=20, help=f"batches of {BATCH:,} records")
    parser.add_argument(
        "--dir", type=Path, help="keep the city here and reuse it (not with --record)"
    )
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    need_wrk()
    load = f"load average {os.getloadavg()[0]:.2f} at the start"
    print(load)
    with tempfile.TemporaryDirectory(prefix="credence-bench-") as tmp:
        results, subjects = run(args, Path(tmp))
    add(*figures(results))
    rows = table(results)
    print_table(rows)
    for line in unmet(results):
        print(f"target not met: {line}")
    if args.record:
        load += f", {args.load_at_loads:.2f} as the loads began (shared machine)"
        record(results, subjects, args, load)


if __name__ == "__main__":
    main()
