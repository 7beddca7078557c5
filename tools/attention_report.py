#!/usr/bin/env python3
"""Markdown tables of one GPU run of tools/gpu_test.sh: ours (bench.json of
bench/cuda_attention_bench) next to the peers (peers.json of tools/bench_attention_peers.py).

    python3 tools/attention_report.py OUT_DIR > tables.md
"""
import json
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    out = sys.argv[1]
    ours = load(f"{out}/bench.json")
    peers = load(f"{out}/peers.json")
    by = defaultdict(dict)
    for r in ours:
        by[(r["shape"], r["n"])]["ours " + r["kernel"]] = r
    for r in peers:
        by[(r["shape"], r["n"])][r["kernel"]] = r
    keys = sorted(by, key=lambda k: (k[0] != "16/4/256", k[0] != "32/8/128", k[1]))

    def cell(d, name):
        r = d.get(name)
        return f"{r['ms']:.3f} ({r['tflops']:.0f})" if r else "–"

    print("## Dense causal attention: ms (TFLOP/s)\n")
    print("| shape Hq/Hkv/d | N | ours | SDPA flash (FA2) | SDPA cuDNN | Flex dense | ours / FA2 | ours / Flex | ours / cuDNN |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        d = by[k]
        o = d.get("ours dense")
        if not o:
            continue
        ratio = lambda name: f"{o['ms'] / d[name]['ms']:.2f}" if name in d else "–"
        print(f"| {k[0]} | {k[1] // 1024}K | {cell(d, 'ours dense')} | {cell(d, 'sdpa-flash')} | "
              f"{cell(d, 'sdpa-cudnn')} | {cell(d, 'flex dense')} | {ratio('sdpa-flash')} | "
              f"{ratio('flex dense')} | {ratio('sdpa-cudnn')} |")

    variants = sorted({name[len("ours dense"):].strip() for d in by.values() for name in d
                       if name.startswith("ours dense") and name != "ours dense"})
    if variants:
        print("\n## Our dense kernel variants: ms (the default first; [mma] the mma.sync kernel)\n")
        print("| shape | N | default | " + " | ".join(variants) + " |")
        print("|---|---|---|" + "---|" * len(variants))
        for k in keys:
            d = by[k]
            if "ours dense" not in d:
                continue
            cells = [f"{d['ours dense ' + v]['ms']:.3f}" if "ours dense " + v in d else "–"
                     for v in variants]
            print(f"| {k[0]} | {k[1] // 1024}K | {d['ours dense']['ms']:.3f} | " + " | ".join(cells) + " |")

    print("\n## Block-sparse (block 128, random causal block mask + diagonal, same mask for both)\n")
    print("| shape | N | blocks kept | pair density | ours ms | ours / (density x our dense) | Flex ms | ours / Flex |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        d = by[k]
        dense = d.get("ours dense")
        for name, r in sorted(d.items()):
            if not name.startswith("ours block128 keep") or name.endswith("]"):
                continue
            keep = name.split()[-1]
            flex = d.get(f"flex block128 keep {keep}")
            ideal = r["density"] * dense["ms"] if dense else None
            print(f"| {k[0]} | {k[1] // 1024}K | {keep} | {r['density']:.4f} | {r['ms']:.3f} | "
                  f"{r['ms'] / ideal:.2f} | {flex['ms'] if flex else float('nan'):.3f} | "
                  f"{r['ms'] / flex['ms'] if flex else float('nan'):.2f} |")

    print("\n## Gathered token-sparse vs block-sparse at the same key count, indexer top-k cost\n")
    print("| shape | N | gathered top-2048 / 64 queries ms | block-sparse 16 x 128 keys / row ms | gathered / block | indexer d64 top-2048 ms | indexer / our dense |")
    print("|---|---|---|---|---|---|---|")
    for k in keys:
        d = by[k]
        g = d.get("ours gather top2048/q64")
        b = d.get("ours block128 16/row")
        ix = d.get("ours indexer d64 top2048/q64")
        dense = d.get("ours dense")
        if not (g and b):
            continue
        print(f"| {k[0]} | {k[1] // 1024}K | {g['ms']:.3f} | {b['ms']:.3f} | {g['ms'] / b['ms']:.2f} | "
              f"{ix['ms'] if ix else float('nan'):.3f} | "
              f"{ix['ms'] / dense['ms'] if ix and dense else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
