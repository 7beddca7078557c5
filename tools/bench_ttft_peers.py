#!/usr/bin/env python3
"""Peer timings for `spf bench ttft`, in the same run on the machine: for a Qwen3.5 geometry and each
prompt length, (1) the model's dense GEMMs with torch bf16 matmuls (x @ w.T, every projection of
every layer plus the head's last row), (2) one full-attention layer with torch SDPA's flash
(FlashAttention-2) and cuDNN back-ends (causal, GQA, bf16, batch 1), and (3) one Gated DeltaNet
layer with flash-linear-attention's chunk_gated_delta_rule when it is installed, alone and inside
the whole mixer (fla_mixer_ms). CUDA-event
medians of --repeats calls after 2 warm-ups. Writes --json."""
import argparse
import json

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_attention_peers import time_ms  # CUDA-event median after 2 warm-ups, one definition

SHAPES = {
    # hidden, ffn, layers, q heads, kv heads, head_dim, gdn k heads, gdn v heads, gdn dim, vocab
    "qwen3.5-9b": dict(H=4096, I=12288, L=32, Hq=16, Hkv=4, D=256, nk=16, nv=32, dk=128,
                       V=248320),
    "qwen3.5-0.8b": dict(H=1024, I=3584, L=24, Hq=8, Hkv=2, D=256, nk=16, nv=16, dk=128,
                         V=248320),
}


def gemm_shapes(s):
    """(out, in, count) of every dense matmul of one prefill, per token row."""
    H, I, D = s["H"], s["I"], s["D"]
    n_attn = s["L"] // 4
    n_gdn = s["L"] - n_attn
    C = 2 * s["nk"] * s["dk"] + s["nv"] * s["dk"]
    VD = s["nv"] * s["dk"]
    return [
        (2 * I, H, s["L"]),  # gate | up
        (H, I, s["L"]),  # down
        (2 * s["Hq"] * D + 2 * s["Hkv"] * D, H, n_attn),  # q + gate | k | v
        (H, s["Hq"] * D, n_attn),  # o
        (C, H, n_gdn), (VD, H, n_gdn), (s["nv"], H, n_gdn), (s["nv"], H, n_gdn),  # qkv z b a
        (H, VD, n_gdn),  # out
    ]


def fla_mixer_ms(s, n, dev, repeats):
    """One whole Gated DeltaNet mixer the way a torch model runs it with fla, from the input
    projections to the out projection's input -- the same span as `spf bench ttft`'s "gdn" part:
    causal depthwise conv (width 4) + SiLU over the q|k|v channels (fla's Triton causal_conv1d, or
    torch's conv1d where that is missing), the gates (torch), q/k repeated to the value heads, the
    delta rule with the q/k L2 norm in its kernel, and fla's fused gated RMS norm; the conv and
    recurrent states are kept for decode, as ours are. Reports which
    implementation ran each part."""
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule
    nk, nv, dk = s["nk"], s["nv"], s["dk"]
    C = (2 * nk + nv) * dk
    res = {}
    x = torch.randn(1, n, C, device=dev, dtype=torch.bfloat16)
    w = torch.randn(C, 4, device=dev, dtype=torch.bfloat16) * 0.3
    z = torch.randn(1, n, nv * dk, device=dev, dtype=torch.bfloat16)
    a_in = torch.randn(1, n, nv, device=dev, dtype=torch.bfloat16)
    b_in = torch.randn(1, n, nv, device=dev, dtype=torch.bfloat16)
    A_log = torch.rand(nv, device=dev)
    dt_bias = torch.rand(nv, device=dev)
    try:
        try:
            from fla.modules.causal_conv1d import causal_conv1d as fla_conv
        except ImportError:
            from fla.modules.convolution import causal_conv1d as fla_conv

        def conv(t):  # the conv state is kept for decode, as ours is
            y = fla_conv(x=t, weight=w, activation="silu", output_final_state=True)
            return y[0] if isinstance(y, tuple) else y
        conv(x)
        res["gdn_fla_mixer_conv"] = "fla causal_conv1d"
    except Exception as e:
        res["gdn_fla_mixer_conv"] = f"torch conv1d (fla's: {e.__class__.__name__})"

        def conv(t):
            y = F.conv1d(t.transpose(1, 2), w.unsqueeze(1), padding=3, groups=C)[..., :n]
            return F.silu(y).transpose(1, 2)
    try:
        from fla.modules import FusedRMSNormGated
        norm = FusedRMSNormGated(dk, eps=1e-6).to(dev)
        res["gdn_fla_mixer_norm"] = "fla FusedRMSNormGated"
    except Exception as e:
        res["gdn_fla_mixer_norm"] = f"unavailable: {e.__class__.__name__}"
        return res

    def mixer():
        qkv = conv(x)
        q, k, v = torch.split(qkv, [nk * dk, nk * dk, nv * dk], dim=-1)
        q = q.reshape(1, n, nk, dk).repeat_interleave(nv // nk, dim=2)
        k = k.reshape(1, n, nk, dk).repeat_interleave(nv // nk, dim=2)
        v = v.reshape(1, n, nv, dk)
        beta = b_in.sigmoid()
        g = -A_log.exp() * F.softplus(a_in.float() + dt_bias)
        o, _ = chunk_gated_delta_rule(q, k, v, g, beta, output_final_state=True,
                                      use_qk_l2norm_in_kernel=True)
        return norm(o.reshape(-1, dk), z.reshape(-1, dk)).reshape(1, n, nv * dk)
    try:
        res["gdn_fla_mixer_ms"] = time_ms(mixer, repeats)
    except Exception as e:
        res["gdn_fla_mixer_error"] = str(e).splitlines()[0][:200]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="qwen3.5-9b", choices=sorted(SHAPES))
    ap.add_argument("--lengths", default="8192,16384,32768,65536,131072")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    s = SHAPES[a.shape]
    dev = "cuda"
    out = {"shape": a.shape, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "rows": []}
    try:
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule  # noqa: F401
        have_fla = True
    except Exception as e:  # not installed on every machine
        have_fla = False
        out["fla"] = f"not available: {e.__class__.__name__}"
    for n in [int(x) for x in a.lengths.split(",") if x]:
        row = {"tokens": n}
        # GEMMs: time one matmul per distinct shape, times its count.
        total = 0.0
        x_big = torch.randn(n, max(s["H"], s["I"], s["Hq"] * s["D"]), device=dev,
                            dtype=torch.bfloat16)
        for o, i, count in gemm_shapes(s):
            w = torch.randn(o, i, device=dev, dtype=torch.bfloat16) * 0.02
            x = x_big[:, :i]
            total += count * time_ms(lambda: x @ w.T, a.repeats)
            del w
        head = torch.randn(s["V"], s["H"], device=dev, dtype=torch.bfloat16) * 0.02
        total += time_ms(lambda: x_big[-1:, :s["H"]] @ head.T, a.repeats)
        del head, x_big
        flops = sum(2.0 * n * o * i * c for o, i, c in gemm_shapes(s))
        row["gemm_ms"] = total
        row["gemm_tflops"] = flops / (total * 1e-3) / 1e12
        # One attention layer.
        q = torch.randn(1, s["Hq"], n, s["D"], device=dev, dtype=torch.bfloat16)
        k = torch.randn(1, s["Hkv"], n, s["D"], device=dev, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    row[f"attention_{name}_ms"] = time_ms(
                        lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                               enable_gqa=True), a.repeats)
            except Exception as e:
                row[f"attention_{name}_ms"] = None
                row[f"attention_{name}_error"] = str(e).splitlines()[0][:200]
        del q, k, v
        if have_fla:
            from fla.ops.gated_delta_rule import chunk_gated_delta_rule
            nv, dk = s["nv"], s["dk"]
            qq = F.normalize(torch.randn(1, n, nv, dk, device=dev, dtype=torch.bfloat16), dim=-1)
            kk = F.normalize(torch.randn(1, n, nv, dk, device=dev, dtype=torch.bfloat16), dim=-1)
            vv = torch.randn(1, n, nv, dk, device=dev, dtype=torch.bfloat16)
            g = -torch.rand(1, n, nv, device=dev, dtype=torch.float32)
            beta = torch.rand(1, n, nv, device=dev, dtype=torch.bfloat16)
            row["gdn_fla_ms"] = time_ms(lambda: chunk_gated_delta_rule(qq, kk, vv, g, beta),
                                        a.repeats)
            del qq, kk, vv, g, beta
            row.update(fla_mixer_ms(s, n, dev, a.repeats))
        torch.cuda.empty_cache()
        print(json.dumps(row), flush=True)
        out["rows"].append(row)
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        import os
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
