#!/usr/bin/env python3
"""Where the variance of a cell's rate lives, and whether compare holds.

Part 1, levels (--levels): four kinds of cell (CPU-bound and wait-bound, Rust
and Python) measured three ways: 5 trials on one server process, 5 trials on
a fresh server each, and that again in --runs separate runs. Prints each
level's coefficient of variation: between the trials of one process, between
processes, and between the runs' means (with the figure processes alone would
give, their CV over sqrt(5), beside it).

Part 2, A/A (--aa N): issue 20's matrix (rust/std/sync-pool with 4 workers and
rust/axum/tokio-multi, hello and sleep, 16 connections, 5 trials of 1 s, run
as the presets run them: a fresh server each, interleaved) run twice, N
times, and compared: the number of cells
called changed (false changes). Then against the same matrix with 2 sync
workers: whether the halved sync pool is found each time.

Part 3, A/B (--ab): `framewut ab` of cpu with n = 100,000 against 110,000 on
rust/std/sync-pool: whether a 10% change in CPU work is found.

Usage: python3 bench/variance.py [--levels] [--runs 3] [--aa 5] [--ab]
                                 [--framewut PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile

from benchlib import framewut_release

LEVELS = """
[[stack]]
id = "rust/axum/tokio-multi"
scenarios = ["hello", "sleep"]

[[stack]]
id = "python/wsgi/gunicorn-meinheld"
scenarios = ["hello"]

[[stack]]
id = "python/wsgi/gunicorn-sync"
scenarios = ["sleep"]

[scenario.sleep]
duration = "50ms"

[[profile]]
connections = 16
duration = "1s"
warmup = "500ms"
trials = 5
servers = {servers}
"""

AA = """
scenarios = ["hello", "sleep"]
interleave = true

[scenario.sleep]
duration = "50ms"

[[stack]]
id = "rust/std/sync-pool"
workers = {workers}

[[stack]]
id = "rust/axum/tokio-multi"

[[profile]]
connections = 16
duration = "1s"
trials = 5
servers = 5
"""

CPU = """
scenarios = ["cpu"]

[scenario.cpu]
n = {n}

[[stack]]
id = "rust/std/sync-pool"
workers = 1

[[profile]]
connections = 4
duration = "1s"
warmup = "500ms"
"""


def run(framewut, work, name, matrix):
    path = os.path.join(work, name + ".toml")
    with open(path, "w") as f:
        f.write(matrix)
    out = os.path.join(work, name)
    subprocess.run([framewut, "run", path, "--out", out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "results.json")) as f:
        return out, json.load(f)


def cv(values):
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else float("nan")


def per_process(cell):
    groups = {}
    for t in cell["trials"]:
        g = groups.setdefault(t["process"], [0, 0.0])
        g[0] += t["load"]["requests"]
        g[1] += t["load"]["elapsed_s"]
    return [r / s for r, s in groups.values()]


def levels(framewut, work, runs):
    _, one = run(framewut, work, "one-process", LEVELS.format(servers=1))
    fresh = [run(framewut, work, f"fresh-{k}", LEVELS.format(servers=5))[1] for k in range(runs)]
    print("| cell | trials of one process | between processes | between runs' means | processes alone would give |")
    print("| --- | --- | --- | --- | --- |")
    for i, cell in enumerate(one["cells"]):
        within = cv([t["load"]["requests_per_s"] for t in cell["trials"]])
        between = [cv(per_process(r["cells"][i])) for r in fresh]
        means = [statistics.mean(per_process(r["cells"][i])) for r in fresh]
        b = statistics.mean(between)
        print(f"| {cell['id']} | {within:.1%} | {b:.1%} | {cv(means):.1%} | {b / 5 ** 0.5:.1%} |")


def compare(framewut, a, b):
    out = subprocess.run([framewut, "compare", a, b, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["changes"]


def aa(framewut, work, times):
    false_changes, found = 0, 0
    for k in range(times):
        a, _ = run(framewut, work, f"aa-{k}-a", AA.format(workers=4))
        b, _ = run(framewut, work, f"aa-{k}-b", AA.format(workers=4))
        half, _ = run(framewut, work, f"aa-{k}-half", AA.format(workers=2))
        same = compare(framewut, a, b)
        changed = [c["id"] for c in same if c["verdict"] in ("faster", "slower")]
        untold = [c["id"] for c in same if c["verdict"] == "cannot_tell"]
        false_changes += len(changed)
        halved = compare(framewut, a, half)
        sync = [c for c in halved if c["id"] == "rust/std/sync-pool/sleep/c16"][0]
        found += sync["verdict"] == "slower"
        print(f"A/A {k + 1}: changed {changed or 'none'}; cannot tell {untold or 'none'}; "
              f"half the sync workers on sleep: {sync['verdict']} {sync['change']:+.1%}")
    print(f"false changes in {times} A/A comparisons: {false_changes}; halved sync pool found {found} of {times}")


def ab(framewut, work):
    paths = []
    for n in (100000, 110000):
        path = os.path.join(work, f"cpu-{n}.toml")
        with open(path, "w") as f:
            f.write(CPU.format(n=n))
        paths.append(path)
    out = os.path.join(work, "ab")
    subprocess.run([framewut, "ab", *paths, "--rounds", "8", "--out", out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "ab.json")) as f:
        c = json.load(f)["changes"][0]
    print(f"A/B cpu n=100000 against 110000: {c['verdict']} {c['change']:+.1%} "
          f"(B - A {c['difference_per_s']:+.0f} ± {c['difference_ci95_per_s']:.0f} req/s, "
          f"Holm p {c['holm_p_value']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--aa", type=int, default=0)
    ap.add_argument("--ab", action="store_true")
    ap.add_argument("--framewut", help="a framewut binary instead of building one")
    args = ap.parse_args()
    framewut = args.framewut or framewut_release()
    work = tempfile.mkdtemp(prefix="framewut-variance-")
    if args.levels:
        levels(framewut, work, args.runs)
    if args.aa:
        aa(framewut, work, args.aa)
    if args.ab:
        ab(framewut, work)
    print(f"runs in {work}")


if __name__ == "__main__":
    main()
