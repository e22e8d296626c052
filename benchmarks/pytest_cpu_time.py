"""CPU seconds per test, beside pytest's wall-clock --durations: where a suite on 2 cores spends its CPU.

    CPU_LOG=/tmp/cpu.jsonl PYTHONPATH=benchmarks pytest -q -n 2 -p pytest_cpu_time     # one JSON line per test
    python benchmarks/pytest_cpu_time.py /tmp/cpu.jsonl [--top 25]                     # per module, then per test

A test's CPU time is its process's (user + system) plus that of the children it waited for: the Snakemake runs and
every job they started. With 2 workers on 2 cores the suite cannot take less wall time than half its CPU total, so
the CPU column, not the wall column, says what to make cheaper. A child reaped late (a background process a test
left running) is counted to the test that reaped it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import time

import pytest


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu(), time.perf_counter()
    yield
    row = {"id": item.nodeid, "cpu": _cpu() - cpu, "wall": time.perf_counter() - wall, "pid": os.getpid()}
    with open(os.environ["CPU_LOG"], "a") as f:
        f.write(json.dumps(row) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in open(args.log)]
    print(f"{len(rows)} tests, {sum(r['cpu'] for r in rows):.0f} CPU s, {sum(r['wall'] for r in rows):.0f} wall s "
          f"summed over {len({r['pid'] for r in rows})} process(es)")
    modules: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r in rows:
        m = modules[r["id"].split("::")[0]]
        m[0], m[1], m[2] = m[0] + r["cpu"], m[1] + r["wall"], m[2] + 1
    print(f"\n{'CPU s':>8} {'wall s':>8} {'tests':>5}  module")
    for name, (cpu, wall, n) in sorted(modules.items(), key=lambda kv: -kv[1][0]):
        print(f"{cpu:8.1f} {wall:8.1f} {n:5d}  {name}")
    print(f"\n{'CPU s':>8} {'wall s':>8}  test")
    for r in sorted(rows, key=lambda r: -r["cpu"])[: args.top]:
        print(f"{r['cpu']:8.1f} {r['wall']:8.1f}  {r['id']}")


if __name__ == "__main__":
    main()
