"""Benchmark of hostile catalogue and rulebook files: how fast and small each refusal is.

Writes each file to a temporary directory and loads it with
`credence.core.yamlfile.load_yaml` in a fresh subprocess, which reports the
time spent in the call, the peak of Python allocations during it
(tracemalloc) and the process's peak RSS (VmHWM, interpreter included;
the first row is the interpreter with nothing hostile loaded, for scale).
The largest accepted files show what a file under every bound can cost.

Usage: python benchmarks/bench_yaml.py [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import machine

from credence.core.catalogue import default_catalogue_path
from credence.core.yamlfile import LIMITS

RESULTS = Path(__file__).with_name("RESULTS.md")

CHILD = """
import json, sys, time, tracemalloc
from pathlib import Path
from credence.core.yamlfile import YamlError, load_yaml
tracemalloc.start()
start = time.perf_counter()
try:
    load_yaml(Path(sys.argv[1]))
    outcome = "accepted"
except YamlError as exc:
    outcome = str(exc).split(": ", 1)[1][:70]
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
status = Path("/proc/self/status").read_text().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"s": seconds, "traced": peak, "rss": rss, "outcome": outcome}))
"""


def alias_bomb(levels: int = 20, width: int = 75) -> bytes:
    """A "billion laughs" file: `width ** levels` strings once expanded."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return ("\n".join(lines) + "\n").encode()


def cases() -> dict[str, bytes]:
    depth, cap = 100_000, LIMITS.max_bytes
    size = f"{cap >> 10} KiB"
    return {
        "trivial file (baseline)": b"a: 1\n",
        f"alias bomb, {len(alias_bomb()):,} bytes": alias_bomb(),
        f"{depth:,}-deep flow lists": b"a: " + b"[" * depth + b"]" * depth + b"\n",
        f"{depth:,}-deep block lists": b"a:\n" + b"- " * depth + b"x\n",
        f"{depth // 2:,}-deep flow mappings": (
            b"a: " + b"{a: " * (depth // 2) + b"}" * (depth // 2) + b"\n"
        ),
        "100 MiB file": b"a: '" + b"x" * (100 << 20) + b"'\n",
        "python tag": b"a: !!python/object/apply:os.system ['true']\n",
        f"invalid UTF-8 at the end of {size}": b"a: '" + b"x" * (cap - 10) + b"\xff'\n",
        f"{size} of empty lists": b"a: [" + b"[]," * (cap // 3 - 4) + b"]\n",
        f"{LIMITS.max_nodes // 3:,} small mappings (accepted)": (
            b"a:\n" + b"- {a: 1}\n" * (LIMITS.max_nodes // 3 - 1)
        ),
        f"{size} of comments (accepted)": b"a: 1\n" + b"#\n" * (cap // 2 - 4),
        f"{size} multi-line plain scalar (accepted)": b"a: x\n" + b"  x\n" * (cap // 4 - 2),
        f"{size} of escapes (accepted)": b'a: "' + b"\\t" * (cap // 2 - 4) + b'"\n',
        "the default catalogue (accepted)": default_catalogue_path().read_bytes(),
    }


def run() -> list[tuple[str, dict[str, object]]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, data in cases().items():
            path = Path(tmp) / "case.yaml"
            path.write_bytes(data)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rows.append((label, json.loads(out)))
    return rows


def table(rows: list[tuple[str, dict[str, object]]]) -> list[str]:
    lines = [
        "| file | outcome | time in load_yaml | peak traced | peak RSS (process) |",
        "|---|---|---|---|---|",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['outcome']} | {float(r['s']) * 1000:,.1f} ms "  # type: ignore[arg-type]
            f"| {int(r['traced']) / 2**20:,.2f} MiB "  # type: ignore[call-overload]
            f"| {int(r['rss']) / 1024:,.0f} MiB |"  # type: ignore[call-overload]
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    lines = table(run())
    print("\n".join(lines))
    if args.record:
        head = [
            f"\n### Hostile YAML refused (issue 8) ({dt.date.today()})\n",
            f"- machine: {machine()}; load average {os.getloadavg()[0]:.1f} (shared machine)",
            "- each file loaded by `load_yaml` in a fresh process (`benchmarks/bench_yaml.py`)\n",
        ]
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(head + lines) + "\n")
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
