"""Portal benchmark: name search and organisation pages with a million organisations.

Usage: python benchmarks/bench_portal.py [--organisations N] [--requests R] [--dir DIR]

It synthesises a city with about N organisations (each registered once with a
name by the market regulator, plus other records at --records-per-subject),
ingests it into a fresh registry exactly as `credence ingest` does (not
timed), starts `credence serve`, waits until the name index is built, then
measures, one request at a time from one client on the same machine:

- search: GET /?q=... (the portal's HTML results page) for queries drawn from
  the registered names: two Chinese characters, a pinyin word, a whole name,
  and strings no name contains (the worst case: the whole index is scanned);
- organisation page: GET /organisations/{USCC} (HTML, with the score history
  chart) for organisations drawn at random, each the first view of that page.

Latencies are wall times seen by the client (p50, p99). The figures go to
make bench's table (benchmarks/table.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import string
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bench_service import clean_env, server
from measure import open_cached
from table import Figure, add

from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import synthesise
from credence.synth.population import ORGANISATION_SHARE

TARGET_MS = 100.0
DEFAULT_DIR = Path(tempfile.gettempdir()) / "credence-bench-portal"
REGISTRATION = "administrative.business-registration"


def build(data: Path, organisations: int, per_subject: float, seed: int) -> Path:
    """The city and its ingested registry under `data` (reused when already built)."""
    city = data / "city"
    done = data / "ingested.json"
    if done.exists():
        open_cached(Settings(data_dir=data / "registry")).close()  # an older schema, migrated
        return city
    subjects = math.ceil(organisations / ORGANISATION_SHARE)
    started = time.perf_counter()
    manifest = synthesise(city, subjects, seed, records_per_subject=per_subject)
    print(
        f"city: {manifest.organisations:,} organisations, {manifest.records:,} rows "
        f"in {time.perf_counter() - started:.0f} s"
    )
    settings = Settings(data_dir=data / "registry")
    registry, _ = Registry.init(settings)
    started = time.perf_counter()
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
        ingest_file(registry, city / spec.file, spec.name)
    registry.close()
    seconds = time.perf_counter() - started
    print(f"ingested in {seconds:.0f} s")
    done.write_text(json.dumps({"organisations": manifest.organisations, "ingest_s": seconds}))
    return city


def registrations(city: Path) -> list[tuple[str, str, str]]:
    """(USCC, name, Latin name) of every registration in the city's files."""
    table = pq.read_table(
        city / "market-regulator.parquet", columns=["item", "subject", "attributes"]
    )
    table = table.filter(pc.equal(table["item"], REGISTRATION))
    out = []
    for subject, attributes in zip(
        table["subject"].to_pylist(), table["attributes"].to_pylist(), strict=True
    ):
        try:
            values = json.loads(attributes)
        except (TypeError, ValueError):
            continue  # a deliberately spoiled row, refused at ingest
        if isinstance(values, dict) and isinstance(values.get("name"), str):
            out.append(
                (subject.removeprefix("uscc:"), values["name"], values.get("name_latin") or "")
            )
    return out


def queries(names: list[tuple[str, str, str]], n: int, rng: random.Random) -> list[str]:
    """A mix of what people type: 2 Chinese characters, a pinyin word, a whole name, nothing."""
    out = []
    for i in range(n):
        _code, name, latin = rng.choice(names)
        kind = i % 4
        if kind == 0:
            at = rng.randrange(max(1, len(name) - 1))
            out.append(name[at : at + 2])
        elif kind == 1 and latin:
            out.append(rng.choice(latin.split()))
        elif kind == 2:
            out.append(name)
        else:
            out.append("".join(rng.choices(string.ascii_lowercase, k=7)))  # matches nothing
    return out


def timed(client: httpx.Client, paths: list[tuple[str, dict[str, str]]]) -> list[float]:
    """Milliseconds per request, one at a time; every answer must be 200."""
    times = []
    for path, params in paths:
        started = time.perf_counter()
        got = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        if got.status_code != 200:
            raise RuntimeError(f"{path} {params}: {got.status_code} {got.text[:200]}")
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_for_names(base: str) -> float:
    """Seconds until the name index answers (built in the background at start-up)."""
    started = time.perf_counter()
    httpx.get(f"{base}/v1/organisations", params={"name": "有限"}, timeout=600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=1_000_000)
    parser.add_argument("--records-per-subject", type=float, default=0.5)
    parser.add_argument("--requests", type=int, default=2000, help="of each kind")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--dir", type=Path, default=None, help="the city and registry's cache (reused when built)"
    )
    args = parser.parse_args()
    data = args.dir or DEFAULT_DIR / f"orgs-{args.organisations}-rps-{args.records_per_subject}"
    data.mkdir(parents=True, exist_ok=True)
    city = build(data, args.organisations, args.records_per_subject, args.seed)
    names = registrations(city)
    held = json.loads((data / "ingested.json").read_text())["organisations"]
    rng = random.Random(args.seed)
    env = clean_env(CREDENCE_DATA_DIR=str(data / "registry"))
    with server(env, data / "serve.log") as base:
        warm = wait_for_names(base)
        print(f"name index ready {warm:.1f} s after the first request")
        with httpx.Client(base_url=base, timeout=60) as client:
            timed(client, [("/", {"q": q}) for q in queries(names, 50, rng)])  # warm-up
            search = timed(client, [("/", {"q": q}) for q in queries(names, args.requests, rng)])
            orgs = rng.sample(names, min(args.requests, len(names)))
            pages = timed(client, [(f"/organisations/{code}", {}) for code, _n, _l in orgs])
    size = f"{held:,} organisations"
    for label, values in (("search by name", search), ("organisation page, first view", pages)):
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        print(f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(values):.1f} ms")
        note = (
            f"{len(values):,} requests one at a time from one client on the same machine, "
            f"HTML pages; load average {os.getloadavg()[0]:.2f}"
        )
        add(
            Figure(f"portal {label}, {size}, p50", p50, "ms", note=note),
            Figure(f"portal {label}, {size}, p99", p99, "ms", at_most=TARGET_MS),
        )


if __name__ == "__main__":
    main()
