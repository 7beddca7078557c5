#!/usr/bin/env python3
"""Folds `spf bench ttft --json` results and tools/bench_ttft_peers.py timings of the same run
on the machine into Markdown tables (one per model shape) and one plot of TTFT against prompt length.

  ttft_report.py --ttft A.json [B.json ...] --peers PA.json [PB.json ...] --out DIR

Per length: our dense TTFT; the dense TTFT with an FA2-class (torch SDPA flash) or cuDNN attention
in our attention's place (ours - our attention time + layers x the peer's one-layer time); the
floor (our TTFT with attention at zero: dense - its attention part) and the Amdahl bound it sets
(dense / floor); each sparse method's TTFT, its speedups and how close it comes to the floor."""
import argparse
import json
import os


def load(paths):
    return [json.load(open(p)) for p in paths]


def layer_counts(t):
    """(attention layers, Gated DeltaNet layers) of a ttft JSON; older files lack the counts and
    are recognised by their shape name."""
    if "attention_layers" in t:
        return t["attention_layers"], t["layers"] - t["attention_layers"]
    name = t["model"]
    return (8, 24) if "9b" in name else (6, 18) if "0.8b" in name else (None, None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttft", nargs="+", required=True)
    ap.add_argument("--peers", nargs="*", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    peers = {p["shape"]: {r["tokens"]: r for r in p["rows"]} for p in load(a.peers)}
    md = []
    series = {}
    for t in load(a.ttft):
        model = t["model"]
        shape = model.split(" ")[0]
        layers, n_gdn = layer_counts(t)
        peer = peers.get(shape, {})
        md.append(f"### {model}\n")
        md.append(f"{t['device']}, {t['date']}, median of {t['repeats']} runs, indexer "
                  f"{t['indexer']}, sparse layers {t['sparse_layers']}, prefill chunk "
                  f"{t['prefill_chunk'] or 'none'}, attention kernel "
                  f"{t.get('attention_kernel', 'mma')}; weights {t['weight_bytes'] / 1e9:.1f} GB.\n")
        md.append("| tokens | method | TTFT ms | vs our dense | vs FA2-class dense | "
                  "vs cuDNN dense | floor / TTFT | GEMM ms | GDN ms | attention ms | "
                  "indexer ms (of it top-k) | other ms | device GB |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        by_len = {}
        for r in t["rows"]:
            by_len.setdefault(r["tokens"], []).append(r)
        bounds = []
        for n in sorted(by_len):
            rows = by_len[n]
            dense = next((r for r in rows if r["method"] == "dense"), None)
            if dense is None:
                continue
            d_ms = dense["ttft_s"] * 1e3
            b = dense.get("breakdown_s", {})
            att = b.get("attention", 0.0) * 1e3
            floor = d_ms - att
            p = peer.get(n, {})
            fa2 = cudnn = None
            if layers and p.get("attention_flash_ms") is not None:
                fa2 = d_ms - att + layers * p["attention_flash_ms"]
            if layers and p.get("attention_cudnn_ms") is not None:
                cudnn = d_ms - att + layers * p["attention_cudnn_ms"]
            bounds.append((n, d_ms, floor, fa2, cudnn, p))
            series.setdefault((model, "floor (attention at 0)"), []).append((n, floor))
            if fa2:
                series.setdefault((model, "dense, FA2-class attention"), []).append((n, fa2))
            for r in rows:
                ms = r["ttft_s"] * 1e3
                br = r.get("breakdown_s", {})
                f = lambda k: f"{br[k] * 1e3:.1f}" if k in br else "–"
                idx = f("indexer")
                if br.get("indexer_topk"):
                    idx += f" ({br['indexer_topk'] * 1e3:.1f})"
                ratio = lambda ref: f"{ref / ms:.2f}x" if ref else "–"
                md.append(f"| {n} | {r['method']} | {ms:.1f} | {d_ms / ms:.2f}x | {ratio(fa2)} | "
                          f"{ratio(cudnn)} | {floor / ms:.2f} | {f('gemm')} | {f('gdn')} | "
                          f"{f('attention')} | {idx} | {f('other')} | "
                          f"{r['device_memory_bytes'] / 1e9:.1f} |")
                series.setdefault((model, r["method"]), []).append((n, ms))
        md.append("")
        md.append("Amdahl bound (attention at zero cost) and the peers of the same run:\n")
        md.append("| tokens | our dense ms | floor ms | bound vs our dense | FA2-class dense ms | "
                  "bound vs FA2-class | cuDNN dense ms | torch GEMMs ms (TFLOP/s) | our GEMMs ms | "
                  "fla delta rule ms / layer | fla GDN mixer ms / layer | our GDN mixer ms / layer |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, d_ms, floor, fa2, cudnn, p in bounds:
            dense = next(r for r in by_len[n] if r["method"] == "dense")
            b = dense.get("breakdown_s", {})
            ours_gdn = f"{b['gdn'] * 1e3 / n_gdn:.2f}" if n_gdn and "gdn" in b else "–"
            tg = (f"{p['gemm_ms']:.0f} ({p['gemm_tflops']:.0f})" if "gemm_ms" in p else "–")
            og = f"{b['gemm'] * 1e3:.0f}" if "gemm" in b else "–"
            fla = f"{p['gdn_fla_ms']:.2f}" if p.get("gdn_fla_ms") else "–"
            fla_mix = f"{p['gdn_fla_mixer_ms']:.2f}" if p.get("gdn_fla_mixer_ms") else "–"
            fmt = lambda x: f"{x:.0f}" if x else "–"
            bfa = f"{fa2 / floor:.2f}x" if fa2 else "–"
            md.append(f"| {n} | {d_ms:.0f} | {floor:.0f} | {d_ms / floor:.2f}x | {fmt(fa2)} | "
                      f"{bfa} | {fmt(cudnn)} | {tg} | {og} | {fla} | {fla_mix} | {ours_gdn} |")
        md.append("")
    with open(os.path.join(a.out, "ttft-tables.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        models = sorted({m for m, _ in series})
        fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.5), squeeze=False)
        for ax, model in zip(axes[0], models):
            for (m, method), pts in sorted(series.items()):
                if m != model:
                    continue
                pts.sort()
                style = "--" if "floor" in method or "FA2" in method else "-o"
                ax.plot([x for x, _ in pts], [y / 1e3 for _, y in pts], style, label=method,
                        markersize=4)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("prompt tokens")
            ax.set_ylabel("TTFT (s)")
            ax.set_title(model)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "ttft.png"), dpi=120)
    except ImportError as e:
        print(f"no plot: {e}")
    print(f"wrote {a.out}/ttft-tables.md")


if __name__ == "__main__":
    main()
