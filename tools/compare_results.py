#!/usr/bin/env python3
"""Paired comparison of sweep results on the same samples, across files (e.g. a GPU sweep against
the CPU one, or a method of one file against a method of another):

  compare_results.py A.jsonl B.jsonl [--a-method M] [--b-method M] [--budget B] [--length L]

Rows are matched by (task, length, sample, seed) and, unless --a-method/--b-method pick one method
from each side, by (method, budget) too. Prints per cell (method, budget, length) the sample count,
mean scores of A and B, the paired difference A - B with a 95% bootstrap CI (10,000 resamples,
seed 0), and how many predictions are identical. Exit status 0; the table is the result."""
import argparse
import json
import random
from collections import defaultdict


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run
            rows[(r["task"], r["length"], r["sample"], r["seed"], r["method"], r["budget"])] = r
    return rows


def ci(diffs, n_boot=10000):
    rng = random.Random(0)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    return means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--a-method")
    ap.add_argument("--b-method")
    ap.add_argument("--budget", help="only this budget (both sides)")
    ap.add_argument("--b-budget", help="B's budget when it differs from A's")
    ap.add_argument("--length", type=int)
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    cells = defaultdict(list)
    for key, ra in a.items():
        task, length, sample, seed, method, budget = key
        if args.length and length != args.length:
            continue
        if args.budget and budget != args.budget:
            continue
        if args.a_method and method != args.a_method:
            continue
        bm = args.b_method or method
        bb = args.b_budget if args.b_budget is not None else budget
        if args.b_method and args.b_budget is None and args.b_method.startswith("dense"):
            bb = ""
        rb = b.get((task, length, sample, seed, bm, bb))
        if rb is None:
            continue
        cells[(method, budget, length)].append((ra, rb))
    print(f"A = {args.a}{' ' + args.a_method if args.a_method else ''}")
    print(f"B = {args.b}{' ' + args.b_method if args.b_method else ''}\n")
    print("| method | budget | length | n | A mean | B mean | A - B [95% CI] | same prediction |")
    print("|---|---|---|---|---|---|---|---|")
    for (method, budget, length), pairs in sorted(cells.items()):
        sa = [p[0]["score"] for p in pairs]
        sb = [p[1]["score"] for p in pairs]
        d = [x - y for x, y in zip(sa, sb)]
        lo, hi = ci(d)
        same = sum(p[0]["prediction"] == p[1]["prediction"] for p in pairs)
        n = len(pairs)
        print(f"| {method} | {budget or '-'} | {length} | {n} | {sum(sa) / n:.1f} | "
              f"{sum(sb) / n:.1f} | {sum(d) / n:+.1f} [{lo:+.1f}, {hi:+.1f}] | {same}/{n} |")


if __name__ == "__main__":
    main()
