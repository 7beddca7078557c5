#!/usr/bin/env python3
"""Times what users would otherwise pick for causal GQA attention, in the same run as
bench/cuda_attention_bench: torch SDPA with the flash (FlashAttention-2) and cuDNN back-ends, and
torch FlexAttention (compiled), dense and on the exact block masks the C++ benchmark wrote
(--mask-dir: mask_<N>_<density>.row_ptr.i32 / .cols.i32, block 128, the diagonal block masked
causally). bf16, batch 1; CUDA-event medians of --repeats calls after 2 warm-ups.
TFLOP/s counts 4 * d * Hq * admitted (query, key) pairs (2 N^2 d Hq for dense causal)."""
import argparse
import glob
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import BlockMask, flex_attention

BLOCK = 128


def time_ms(fn, repeats):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(repeats):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    ms.sort()
    return ms[len(ms) // 2]


def causal(b, h, q, kv):
    return q >= kv


def block_mask_from_rows(row_ptr, cols, n):
    """A FlexAttention BlockMask of BSR rows: blocks below the diagonal are full, the diagonal one
    partial (masked by `causal`)."""
    nb = (n + BLOCK - 1) // BLOCK
    full_num = np.zeros(nb, np.int32)
    full_idx = np.zeros((nb, nb), np.int32)
    part_num = np.zeros(nb, np.int32)
    part_idx = np.zeros((nb, nb), np.int32)
    for r in range(nb):
        row = cols[row_ptr[r]:row_ptr[r + 1]]
        below = row[row < r]
        full_num[r] = len(below)
        full_idx[r, :len(below)] = below
        if (row == r).any():
            part_num[r] = 1
            part_idx[r, 0] = r
    t = lambda x: torch.from_numpy(x).cuda()[None, None]
    return BlockMask.from_kv_blocks(t(part_num), t(part_idx), t(full_num), t(full_idx),
                                    BLOCK_SIZE=BLOCK, mask_mod=causal)


def dense_rows(n):
    nb = (n + BLOCK - 1) // BLOCK
    row_ptr = np.zeros(nb + 1, np.int64)
    cols = []
    for r in range(nb):
        cols.extend(range(r + 1))
        row_ptr[r + 1] = len(cols)
    return row_ptr, np.array(cols, np.int32)


def admitted_pairs(row_ptr, cols, n):
    pairs = 0
    for r in range(len(row_ptr) - 1):
        q_lo, q_hi = r * BLOCK, min(n, (r + 1) * BLOCK)
        for c in cols[row_ptr[r]:row_ptr[r + 1]]:
            k_lo, k_hi = c * BLOCK, min(n, (c + 1) * BLOCK)
            i = np.arange(q_lo, q_hi)
            pairs += int(np.clip(np.minimum(k_hi, i + 1) - k_lo, 0, None).sum())
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="16/4/256,32/8/128,9/3/64")
    ap.add_argument("--lengths", default="8192,32768,131072")
    ap.add_argument("--flex-lengths", default="8192,32768,131072")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mask-dir", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    # One compiled kernel per (shape, length): raise dynamo's recompile limit above that count.
    torch._dynamo.config.recompile_limit = 64
    torch._dynamo.config.cache_size_limit = 64
    flex = torch.compile(flex_attention, dynamic=False)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}")
    print(f"{'shape':10s} {'N':>7s} {'kernel':22s} {'density':>9s} {'ms':>9s} {'TFLOP/s':>8s}")
    rows = []

    def report(shape, n, kernel, density, ms, flops):
        tf = flops / (ms * 1e-3) / 1e12
        print(f"{shape:10s} {n:7d} {kernel:22s} {density:9.4f} {ms:9.3f} {tf:8.1f}", flush=True)
        rows.append(dict(shape=shape, n=n, kernel=kernel, density=density, ms=ms, tflops=tf))

    flex_lengths = {int(x) for x in args.flex_lengths.split(",") if x}
    for shape in args.shapes.split(","):
        hq, hkv, d = map(int, shape.split("/"))
        for n in map(int, args.lengths.split(",")):
            g = torch.Generator(device="cuda").manual_seed(n)
            mk = lambda h: (torch.rand(1, h, n, d, device="cuda", generator=g) * 2 - 1).to(torch.bfloat16)
            q, k, v = mk(hq), mk(hkv), mk(hkv)
            causal_pairs = n * (n + 1) / 2
            per_pair = 4.0 * d * hq
            for name, be in (("sdpa-flash", SDPBackend.FLASH_ATTENTION),
                             ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)):
                try:
                    with sdpa_kernel(be):
                        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                    enable_gqa=True)
                        ms = time_ms(fn, args.repeats)
                    report(shape, n, name, 1.0, ms, per_pair * causal_pairs)
                except Exception as e:  # a back-end that refuses the shape
                    print(f"{shape:10s} {n:7d} {name:22s} refused: {str(e).splitlines()[0][:80]}")
            if n not in flex_lengths:
                continue
            try:
                rp, cols = dense_rows(n)
                bm = block_mask_from_rows(rp, cols, n)
                ms = time_ms(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), args.repeats)
                report(shape, n, "flex dense", 1.0, ms, per_pair * causal_pairs)
                for path in sorted(glob.glob(os.path.join(args.mask_dir, f"mask_{n}_*.row_ptr.i32"))):
                    rp = np.fromfile(path, np.int32).astype(np.int64)
                    cols = np.fromfile(path.replace(".row_ptr.", ".cols."), np.int32)
                    bm = block_mask_from_rows(rp, cols, n)
                    pairs = admitted_pairs(rp, cols, n)
                    nb = len(rp) - 1
                    kept = len(cols) / (nb * (nb + 1) / 2)
                    ms = time_ms(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), args.repeats)
                    report(shape, n, f"flex block128 keep {kept:.3f}", pairs / causal_pairs, ms,
                           per_pair * pairs)
            except Exception as e:
                print(f"{shape:10s} {n:7d} flex failed: {str(e).splitlines()[0][:100]}")
            del q, k, v
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
