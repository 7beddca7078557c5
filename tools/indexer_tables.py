#!/usr/bin/env python3
"""Markdown tables for docs/results/indexer.md from `spf indexer-eval --json` files and the
`spf train-indexer --log` JSONL: per-layer and mean KL / recall / retained mass, and the held-out
KL curve. Usage: indexer_tables.py metrics METRICS.json [BASELINE.json] | curve LOG.jsonl"""
import json
import sys


def metrics(path, base_path=None):
    m = json.load(open(path))
    base = json.load(open(base_path)) if base_path else None
    fr = [b["fraction"] for b in m["mean"]["budgets"]]
    pct = ["%g%%" % (f * 100) for f in fr]
    head = "| layer | KL |" + "".join(" recall@%s |" % p for p in pct) + "".join(
        " mass@%s (oracle) |" % p for p in pct) + " block%d mass@%s (block oracle) |" % (
            m["block"], pct[1] if len(pct) > 1 else pct[0])
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    rows = m["layers"] + [dict(m["mean"], layer="**mean**")]
    for i, l in enumerate(rows):
        kl = "%.3f" % l["kl"]
        if base:
            bl = (base["layers"] + [base["mean"]])[i]
            kl += " (%.2f)" % bl["kl"]
        b = l["budgets"]
        mid = b[1] if len(b) > 1 else b[0]
        print("| %s | %s |" % (l["layer"], kl) + "".join(" %.3f |" % x["recall"] for x in b) +
              "".join(" %.3f (%.3f) |" % (x["mass"], x["oracle_mass"]) for x in b) +
              " %.3f (%.3f) |" % (mid["block_mass"], mid["block_oracle_mass"]))


def curve(path):
    last = {}
    for line in open(path):
        try:
            j = json.loads(line)
        except ValueError:
            continue  # a torn last line after a kill
        if "heldout_kl" in j:
            last[j["step"]] = j
    print("| step | tokens seen | held-out KL (mean over layers) |")
    print("|---|---|---|")
    for s in sorted(last):
        print("| %d | %d | %.4f |" % (s, last[s]["tokens"], last[s]["heldout_kl"]))


if __name__ == "__main__":
    if sys.argv[1] == "metrics":
        metrics(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        curve(sys.argv[2])
