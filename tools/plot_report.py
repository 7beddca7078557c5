#!/usr/bin/env python3
"""Plots for `spf report`: reads the summary.csv that make_report writes and draws, per model,
  score_vs_length.png  - average score over tasks vs context length, one panel per sparse method
                         (a line per budget), dense as a dashed reference;
  score_vs_budget.png  - score vs budget, one panel per length (a line per method), dense as a band;
  quality_latency.png  - score vs mean prefill time, one panel per length, with the Pareto frontier.
Shaded bands and error bars are the 95% bootstrap CIs from the CSV. Prints "wrote PATH" for each
file (make_report lists those in report.md). Exit 3 when matplotlib is missing.
"""
import argparse
import csv
import math
import os
import re
import sys
from collections import OrderedDict, defaultdict


def num(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return math.nan
    return v


def slug(s):
    s = os.path.basename(s.rstrip("/")) or s
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "model"


def load(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "all"]
    for r in rows:
        r["length"] = int(r["length"])
        for k in ("budget_value", "mean", "ci_lo", "ci_hi", "prefill_seconds"):
            r[k] = num(r[k])
    return rows


def label(r):
    return r["method"] if not r["budget"] else "%s @ %s" % (r["method"], r["budget"])


def grid(n):
    cols = min(n, 3)
    return (n + cols - 1) // cols, cols


def plot_vs_length(plt, rows, out):
    lengths = sorted({r["length"] for r in rows if r["length"] > 0})
    if not lengths:
        return False
    rows = [r for r in rows if r["length"] > 0]
    dense = sorted((r for r in rows if r["method"] == "dense"), key=lambda r: r["length"])
    methods = list(OrderedDict.fromkeys(r["method"] for r in rows if r["method"] != "dense"))
    panels = methods or ["dense"]
    nr, nc = grid(len(panels))
    fig, axes = plt.subplots(nr, nc, figsize=(5 * nc, 3.6 * nr), squeeze=False, sharey=True)
    for ax, m in zip(axes.flat, panels):
        if dense:
            xs = [r["length"] for r in dense]
            ax.plot(xs, [r["mean"] for r in dense], "k--", marker="o", label="dense")
            ax.fill_between(xs, [r["ci_lo"] for r in dense], [r["ci_hi"] for r in dense], color="k", alpha=0.1)
        by_budget = defaultdict(list)
        for r in rows:
            if r["method"] == m and m != "dense":
                by_budget[r["budget"]].append(r)
        for b, rs in sorted(by_budget.items(), key=lambda kv: num(kv[1][0]["budget_value"])):
            rs.sort(key=lambda r: r["length"])
            xs = [r["length"] for r in rs]
            line, = ax.plot(xs, [r["mean"] for r in rs], marker="o", label=b or m)
            ax.fill_between(xs, [r["ci_lo"] for r in rs], [r["ci_hi"] for r in rs], color=line.get_color(), alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths)
        ax.set_xticklabels([str(x) for x in lengths], rotation=45)
        ax.set_title(m)
        ax.set_xlabel("context length (tokens)")
        score_axis(ax)
    return finish(plt, fig, axes, len(panels), out)


def finish(plt, fig, axes, used, out):
    """Blank the unused panels of the grid, save the figure to `out`, close it."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def score_axis(ax, ylim=True):
    """The score axis every panel shares: label, 0-100 range, grid, legend."""
    ax.set_ylabel("score (avg over tasks)")
    if ylim:
        ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def method_colors(rows):
    """One colour per method, the same in every plot (dense first, then order of appearance)."""
    methods = list(OrderedDict.fromkeys(["dense"] + [r["method"] for r in rows]))
    return {m: "C%d" % (i % 10) for i, m in enumerate(methods)}


def plot_vs_budget(plt, rows, out):
    sparse = [r for r in rows if r["method"] != "dense" and not math.isnan(r["budget_value"])]
    if not sparse:
        return False
    lengths = sorted({r["length"] for r in sparse})
    nr, nc = grid(len(lengths))
    fig, axes = plt.subplots(nr, nc, figsize=(5 * nc, 3.6 * nr), squeeze=False, sharey=True)
    for ax, length in zip(axes.flat, lengths):
        for r in rows:
            if r["method"] == "dense" and r["length"] == length:
                ax.axhline(r["mean"], color="k", ls="--", label="dense")
                ax.axhspan(r["ci_lo"], r["ci_hi"], color="k", alpha=0.08)
        by_method = defaultdict(list)
        for r in sparse:
            if r["length"] == length:
                by_method[r["method"]].append(r)
        for m, rs in by_method.items():
            rs.sort(key=lambda r: r["budget_value"])
            xs = [r["budget_value"] for r in rs]
            ys = [r["mean"] for r in rs]
            err = [[y - r["ci_lo"] for y, r in zip(ys, rs)], [r["ci_hi"] - y for y, r in zip(ys, rs)]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=m, color=method_colors(rows)[m])
        pct = all(r["budget"].endswith("%") for r in sparse)
        ax.set_xlabel("budget (% of keys)" if pct else "budget")
        ax.set_title("length %s" % (length if length else "as given"))
        score_axis(ax)
    return finish(plt, fig, axes, len(lengths), out)


def plot_frontier(plt, rows, out):
    timed = [r for r in rows if not math.isnan(r["prefill_seconds"]) and not math.isnan(r["mean"])]
    if not timed:
        return False
    lengths = sorted({r["length"] for r in timed})
    methods = list(OrderedDict.fromkeys(r["method"] for r in timed))
    colors = method_colors(rows)
    nr, nc = grid(len(lengths))
    fig, axes = plt.subplots(nr, nc, figsize=(5 * nc, 3.8 * nr), squeeze=False)
    for ax, length in zip(axes.flat, lengths):
        pts = [r for r in timed if r["length"] == length]
        for m in methods:
            mine = [r for r in pts if r["method"] == m]
            if not mine:
                continue
            ys = [r["mean"] for r in mine]
            err = [[y - r["ci_lo"] for y, r in zip(ys, mine)], [r["ci_hi"] - y for y, r in zip(ys, mine)]]
            ax.errorbar([r["prefill_seconds"] for r in mine], ys, yerr=err, fmt="o", color=colors[m], capsize=2, label=m)
            for r in mine:
                if r["budget"]:
                    ax.annotate(r["budget"], (r["prefill_seconds"], r["mean"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        # Pareto frontier: no other point is both faster and better.
        front, best = [], -math.inf
        for r in sorted(pts, key=lambda r: (r["prefill_seconds"], -r["mean"])):
            if r["mean"] > best:
                front.append(r)
                best = r["mean"]
        ax.step([r["prefill_seconds"] for r in front], [r["mean"] for r in front], where="post",
                color="gray", alpha=0.6, label="frontier")
        ax.set_xlabel("mean prefill time (s)")
        ax.set_title("length %s" % (length if length else "as given"))
        score_axis(ax, ylim=False)
    return finish(plt, fig, axes, len(lengths), out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True, help="summary.csv written by make_report")
    ap.add_argument("--out", required=True, help="directory for the PNGs")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print("matplotlib not available (%s): pip install matplotlib" % e)
        return 3
    rows = load(args.csv)
    models = list(OrderedDict.fromkeys(r["model"] for r in rows))
    os.makedirs(args.out, exist_ok=True)
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        suffix = "" if len(models) == 1 else "_" + slug(model)
        for name, fn in (("score_vs_length", plot_vs_length), ("score_vs_budget", plot_vs_budget),
                         ("quality_latency", plot_frontier)):
            path = os.path.join(args.out, name + suffix + ".png")
            if fn(plt, mine, path):
                print("wrote " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
