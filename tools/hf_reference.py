#!/usr/bin/env python3
"""HF-transformers reference generator for spf's numerical tests.

Writes, under --out DIR (one sub-directory per reference):

  DIR/<name>/            for name in llama, qwen2, qwen3, qwen3_5_text, qwen3_5
      config.json, model.safetensors   tiny random checkpoint (save_pretrained, fp32)
      ids.npy                          int32 [T] random in-vocab token ids (fixed seed)
      logits.npy                       float32 [T, vocab], one full-sequence forward
      logits_decode.npy                float32 [T - T/2, vocab]: prefill ids[:T/2] into a
                                       DynamicCache, then one token at a time; row i is the
                                       logits at position T/2 + i
      manifest.json                    versions, seed, T, max |logit|, self-checks
  DIR/smollm2/           only with --smollm2-gguf PATH (needs the `gguf` package)
      smollm2_ref.json                 tokenizer cases, prose and chat references
      prose_*.npy, chat_*.npy          see the "files" map inside smollm2_ref.json
  DIR/index.json         what was generated, with status per reference

All references are computed on CPU in float32, eval mode, attn_implementation="eager".
Every tiny checkpoint is saved, reloaded with from_pretrained, and the logits are computed
from the reloaded model (so they match what is on disk); the in-memory model's logits must
agree with them, and the cached decode must agree with the full forward, else the run fails.

Usage (from the repo root):
  python3 tools/hf_reference.py --out DIR [--smollm2-gguf PATH] [--prose FILE]
  python3 tools/hf_reference.py --out DIR --dry-run     # parse arguments, print the plan
Exit status: 0 when every requested reference was written, 1 otherwise (the others are
still written), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import shutil
import sys
import time
import traceback

TINY_NAMES = ["llama", "qwen2", "qwen3", "qwen3_5_text", "qwen3_5"]
ALL_NAMES = TINY_NAMES + ["smollm2"]

DEFAULT_SEED = 1234
DEFAULT_T = 136  # >= 128; full forward = GDN chunks 64+64+8, prefill T/2 = 68 = 64+4 (partial chunks)
DEFAULT_PROSE = os.path.join("tests", "fixtures", "text", "prose.txt")
PROSE_MIN_TOKENS = 600
PROSE_MAX_TOKENS = 1024
TOPK = 20
LAST_FULL = 8
CHAT_QUESTION = "What is the capital of France?"
CHAT_MAX_NEW = 30

# Tokenizer cases for SmolLM2 (fixed here so the fixture is reproducible).
TOKENIZER_CASES = [
    ("ascii", "Hello, world! The quick brown fox jumps over the lazy dog."),
    ("digits", "Call 555-0199 or 1234567890; pi=3.14159, 2^64 = 18446744073709551616, 007."),
    ("whitespace", "a  b   c    d\t\te\n\nf \n g\r\n  \t  trailing   "),
    ("code", "def f(x):\n\tif x >= 10:\n\t\treturn x ** 2  # square\n    return {'k': [1, 2, 3]}\n"),
    ("unicode", "naïve café, Ünïcödé — “quotes” ‘single’ … ½ ∑ ∞ ≠ Ελληνικά Русский"),
    ("cjk", "日本語のテキスト、中文文本和한국어 텍스트。"),
    ("emoji", "emoji: 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ✨🚀"),
    ("contractions", "I'm sure you'll see they've gone; it's John's, isn't it? WE'RE DONE."),
    ("mixed", "<html><body id=\"x\">Tab\there — 1,000.50 USD & ¥2000; ###Title\n\n\n- item_1\n</body></html>"),
]


# --------------------------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(f"[hf_reference {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: str, obj) -> None:
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def save_npy(path: str, arr) -> None:
    import numpy as np

    arr = np.ascontiguousarray(arr)
    assert arr.dtype in (np.float32, np.int32), arr.dtype
    tmp = path + ".part.npy"
    np.save(tmp, arr, allow_pickle=False)
    os.replace(tmp, path)


def versions() -> dict:
    import numpy
    import torch
    import transformers

    v = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import safetensors

        v["safetensors"] = safetensors.__version__
    except Exception:  # pragma: no cover
        v["safetensors"] = None
    try:
        from importlib.metadata import version as _ver

        v["gguf"] = _ver("gguf")
    except Exception:
        v["gguf"] = None
    return v


def setup_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_grad_enabled(False)


# --------------------------------------------------------------------------------------------
# tiny random checkpoints


def _rope(theta: float, **extra) -> dict:
    d = {"rope_type": "default", "rope_theta": float(theta)}
    d.update(extra)
    return d


QWEN35_TEXT_LAYERS = ["linear_attention"] * 3 + ["full_attention", "linear_attention", "full_attention"]
QWEN35_COMPOSITE_LAYERS = ["linear_attention"] * 2 + ["full_attention", "linear_attention", "full_attention"]


def _qwen35_text_kwargs(tie: bool, vocab: int, layer_types: list) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=len(layer_types),
        layer_types=list(layer_types),
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # != hidden / heads = 16
        # rotary dim = 32 * 0.25 = 8 -> 4 frequencies; mrope_section sums to 4 (text-only: T=H=W)
        rope_parameters=_rope(
            10000.0, partial_rotary_factor=0.25, mrope_section=[2, 1, 1], mrope_interleaved=True
        ),
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=16,
        linear_value_head_dim=24,
        linear_conv_kernel_dim=4,
        rms_norm_eps=1e-6,
        max_position_embeddings=4096,
        hidden_act="silu",
        attention_bias=False,
        tie_word_embeddings=tie,
        bos_token_id=None,
        eos_token_id=2,
        pad_token_id=None,
    )


def build_config(name: str):
    """Returns (config, model_class, id_high, notes). Token ids are drawn from [0, id_high)."""
    if name == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(
            vocab_size=512,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            rms_norm_eps=1e-5,
            rope_parameters=_rope(10000.0),
            tie_word_embeddings=True,
            attention_bias=False,
            mlp_bias=False,
            hidden_act="silu",
            bos_token_id=1,
            eos_token_id=2,
        )
        return cfg, LlamaForCausalLM, 512, "GQA 4/2, tied embeddings"
    if name == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        cfg = Qwen2Config(
            vocab_size=320,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=1,
            max_position_embeddings=4096,
            rms_norm_eps=1e-6,
            rope_parameters=_rope(1000000.0),
            tie_word_embeddings=False,
            use_sliding_window=False,
            hidden_act="silu",
            bos_token_id=1,
            eos_token_id=2,
        )
        return cfg, Qwen2ForCausalLM, 320, "q/k/v bias (random, nonzero), 1 KV head, untied"
    if name == "qwen3":
        from transformers import Qwen3Config, Qwen3ForCausalLM

        cfg = Qwen3Config(
            vocab_size=320,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            max_position_embeddings=4096,
            rms_norm_eps=1e-6,
            rope_parameters=_rope(1000000.0),
            tie_word_embeddings=False,
            attention_bias=False,
            use_sliding_window=False,
            hidden_act="silu",
            bos_token_id=1,
            eos_token_id=2,
        )
        return cfg, Qwen3ForCausalLM, 320, "head_dim 32 != hidden/heads 16, random q/k norms"
    if name == "qwen3_5_text":
        from transformers.models.qwen3_5 import Qwen3_5ForCausalLM, Qwen3_5TextConfig

        cfg = Qwen3_5TextConfig(**_qwen35_text_kwargs(False, 512, QWEN35_TEXT_LAYERS))
        return cfg, Qwen3_5ForCausalLM, 512, "hybrid GDN/attention, partial rotary 0.25, untied"
    if name == "qwen3_5":
        from transformers.models.qwen3_5 import Qwen3_5Config, Qwen3_5ForConditionalGeneration

        text = _qwen35_text_kwargs(True, 384, QWEN35_COMPOSITE_LAYERS)
        vocab = text["vocab_size"]
        vision = dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            in_channels=3,
            patch_size=2,
            temporal_patch_size=2,
            spatial_merge_size=2,
            out_hidden_size=text["hidden_size"],
            num_position_embeddings=16,  # 4 x 4 learned grid
            hidden_act="gelu_pytorch_tanh",
        )
        cfg = Qwen3_5Config(
            text_config=text,
            vision_config=vision,
            # in-vocab special ids at the top of the vocabulary; random ids stay below them
            vision_start_token_id=vocab - 4,
            vision_end_token_id=vocab - 3,
            image_token_id=vocab - 2,
            video_token_id=vocab - 1,
            tie_word_embeddings=True,
        )
        return cfg, Qwen3_5ForConditionalGeneration, vocab - 8, "composite (text + tiny vision), tied"
    raise ValueError(f"unknown tiny model {name!r}")


def randomize_(model, seed: int) -> dict:
    """Deterministic re-initialisation so that every parameter matters and logits are peaked.

    Linear / conv weights: N(0, 1/fan_in) (std 0.125 for fan_in 64); embeddings / lm_head:
    N(0, 0.4); biases N(0, 0.1); plain RMSNorm / LayerNorm weights 1 + N(0, 0.15);
    Qwen3.5 zero-centred RMSNorm weights (applied as 1 + w) N(0, 0.2); GDN A_log = log(A),
    A log-uniform in [0.003, 1] (slow and fast decays); dt_bias N(0.3, 0.5); depthwise conv
    weights N(0, 0.35).
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)

    def normal_(p, mean, std):
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std + mean)

    counts = {}
    seen = set()
    for full, p in model.named_parameters():  # tied parameters appear once
        if id(p) in seen:
            continue
        seen.add(id(p))
        mname, _, pname = full.rpartition(".")
        mod = model.get_submodule(mname) if mname else model
        cls = type(mod).__name__
        if pname == "A_log":
            u = torch.rand(p.shape, generator=gen)
            a = torch.exp(math.log(0.003) + u * (math.log(1.0) - math.log(0.003)))
            p.copy_(torch.log(a))
            kind = "A_log"
        elif pname == "dt_bias":
            normal_(p, 0.3, 0.5)
            kind = "dt_bias"
        elif isinstance(mod, nn.Embedding) or full.endswith("lm_head.weight"):
            normal_(p, 0.0, 0.4)
            kind = "embedding"
        elif pname == "bias":
            normal_(p, 0.0, 0.1)
            kind = "bias"
        elif p.dim() == 1 and cls == "Qwen3_5RMSNorm":
            normal_(p, 0.0, 0.2)  # used as (1 + w)
            kind = "norm(1+w)"
        elif p.dim() == 1 and ("Norm" in cls or "norm" in mname.rsplit(".", 1)[-1]):
            normal_(p, 1.0, 0.15)
            kind = "norm"
        elif isinstance(mod, nn.Conv1d):
            normal_(p, 0.0, 0.35)
            kind = "conv1d"
        elif p.dim() >= 2:
            fan_in = 1
            for s in p.shape[1:]:
                fan_in *= int(s)
            normal_(p, 0.0, 1.0 / math.sqrt(fan_in))
            kind = "linear"
        else:
            normal_(p, 0.0, 0.1)
            kind = "other1d"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _construct(cls, cfg):
    import torch

    try:
        model = cls._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    except TypeError:
        cfg._attn_implementation = "eager"
        model = cls(cfg)
    return model.float().eval()


def _save(model, path: str) -> None:
    kw = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kw["safe_serialization"] = True
    model.save_pretrained(path, **kw)


def _full_logits(model, ids):
    import torch

    out = model(input_ids=torch.as_tensor(ids, dtype=torch.long)[None], use_cache=False)
    return out.logits[0].float().numpy()


def _decode_logits(model, ids, prefill: int):
    import numpy as np
    import torch
    from transformers import DynamicCache

    t = torch.as_tensor(ids, dtype=torch.long)[None]
    cache = DynamicCache(config=model.config)
    out = model(input_ids=t[:, :prefill], past_key_values=cache, use_cache=True)
    cache = out.past_key_values if out.past_key_values is not None else cache
    rows = []
    for i in range(prefill, t.shape[1]):
        out = model(input_ids=t[:, i : i + 1], past_key_values=cache, use_cache=True)
        cache = out.past_key_values if out.past_key_values is not None else cache
        rows.append(out.logits[0, -1].float().numpy())
    return np.stack(rows).astype(np.float32), type(cache).__name__


def _tensor_summary(st_path: str) -> dict:
    from safetensors import safe_open

    prefixes = {}
    dtypes = set()
    n = 0
    with safe_open(st_path, framework="pt") as f:
        keys = list(f.keys())
        for k in keys:
            n += 1
            parts = k.split(".")
            pre = ".".join(parts[:2]) if parts[0] == "model" else parts[0]
            if parts[:2] == ["model", "language_model"] or parts[:2] == ["model", "visual"]:
                pre = ".".join(parts[:2])
            prefixes[pre] = prefixes.get(pre, 0) + 1
            dtypes.add(str(f.get_slice(k).get_dtype()))
    return {"count": n, "by_prefix": prefixes, "dtypes": sorted(dtypes), "has_lm_head": "lm_head.weight" in keys}


def make_tiny(name: str, out_dir: str, seed: int, T: int) -> dict:
    import numpy as np
    import torch

    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    t0 = time.time()

    # a distinct, fixed seed per model so that the checkpoints differ
    mseed = seed + 1000 * TINY_NAMES.index(name)
    torch.manual_seed(mseed)
    cfg, cls, id_high, notes = build_config(name)
    model = _construct(cls, cfg)
    init_counts = randomize_(model, mseed)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation

    rng = np.random.default_rng(mseed)
    ids = rng.integers(0, id_high, size=T).astype(np.int32)
    prefill = T // 2

    logits_mem = _full_logits(model, ids)
    _save(model, d)
    st = os.path.join(d, "model.safetensors")
    if not os.path.isfile(st):
        raise RuntimeError(f"{name}: save_pretrained wrote no model.safetensors: {sorted(os.listdir(d))}")
    del model

    # references come from the checkpoint as stored
    model = cls.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).float().eval()
    assert model.config._attn_implementation == "eager"
    logits = _full_logits(model, ids)
    logits_dec, cache_cls = _decode_logits(model, ids, prefill)

    max_abs = float(np.abs(logits).max())
    reload_diff = float(np.abs(logits - logits_mem).max())
    dec_diff = float(np.abs(logits_dec - logits[prefill:]).max())
    # spread: how far the logits are from uniform (mean over positions of max - mean)
    spread = float((logits.max(-1) - logits.mean(-1)).mean())
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    entropy = float((-(p * np.log(np.maximum(p, 1e-30))).sum(-1)).mean())

    save_npy(os.path.join(d, "ids.npy"), ids)
    save_npy(os.path.join(d, "logits.npy"), logits.astype(np.float32))
    save_npy(os.path.join(d, "logits_decode.npy"), logits_dec)

    tensors = _tensor_summary(st)
    if name == "qwen3_5":
        bp = tensors["by_prefix"]
        if not bp.get("model.language_model") or not bp.get("model.visual"):
            raise RuntimeError(f"qwen3_5: expected model.language_model.* and model.visual.* tensors, got {bp}")

    text_cfg = model.config.get_text_config(decoder=True)
    manifest = {
        "name": name,
        "arch": name,
        "model_class": cls.__name__,
        "architectures": getattr(model.config, "architectures", None),
        "model_type": model.config.model_type,
        "notes": notes,
        "versions": versions(),
        "seed": mseed,
        "T": int(T),
        "prefill": int(prefill),
        "decode_rows": int(T - prefill),
        "vocab_size": int(text_cfg.vocab_size),
        "ids_range": [0, int(id_high)],
        "dtype": "float32",
        "device": "cpu",
        "attn_implementation": "eager",
        "cache_class": cache_cls,
        "layer_types": list(getattr(text_cfg, "layer_types", None) or []),
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "max_abs_logit": max_abs,
        "max_abs_logit_decode": float(np.abs(logits_dec).max()),
        "mean_top_minus_mean_logit": spread,
        "mean_entropy_nats": entropy,
        "uniform_entropy_nats": math.log(int(text_cfg.vocab_size)),
        "checks": {
            "reload_vs_in_memory_max_abs_diff": reload_diff,
            "decode_vs_full_max_abs_diff": dec_diff,
            "decode_vs_full_rel": dec_diff / max_abs if max_abs else None,
        },
        "init": {"recipe": randomize_.__doc__.strip().splitlines()[0], "param_kinds": init_counts},
        "tensors": tensors,
        "files": {
            "ids.npy": {"dtype": "int32", "shape": [int(T)]},
            "logits.npy": {"dtype": "float32", "shape": list(logits.shape)},
            "logits_decode.npy": {
                "dtype": "float32",
                "shape": list(logits_dec.shape),
                "rows": f"positions {prefill}..{T - 1}, after prefill of ids[:{prefill}]",
            },
        },
        "sha256": {
            f: sha256_file(os.path.join(d, f))
            for f in ("config.json", "model.safetensors", "ids.npy", "logits.npy", "logits_decode.npy")
        },
        "seconds": round(time.time() - t0, 2),
    }
    write_json(os.path.join(d, "manifest.json"), manifest)

    # hard self-checks, after writing, so the evidence stays on disk
    tol = 1e-4 * max(1.0, max_abs)
    problems = []
    if reload_diff > tol:
        problems.append(f"reloaded checkpoint differs from in-memory model by {reload_diff:g}")
    if dec_diff > tol:
        problems.append(f"cached decode differs from full forward by {dec_diff:g}")
    if entropy > 0.9 * math.log(int(text_cfg.vocab_size)):
        problems.append(f"logits are near-uniform (mean entropy {entropy:.3f} nats)")
    if problems:
        raise RuntimeError(f"{name}: " + "; ".join(problems))
    log(
        f"{name}: T={T} vocab={text_cfg.vocab_size} max|logit|={max_abs:.3f} entropy={entropy:.2f} "
        f"reload_diff={reload_diff:.2e} decode_diff={dec_diff:.2e} tensors={tensors['count']} "
        f"({manifest['seconds']}s)"
    )
    return {"max_abs_logit": max_abs, "decode_vs_full_max_abs_diff": dec_diff}


# --------------------------------------------------------------------------------------------
# SmolLM2 GGUF reference


def _encode(tok, text: str) -> list:
    return [int(i) for i in tok.encode(text, add_special_tokens=False)]


def _load_gguf_dense(auto_cls, gdir: str, gname: str):
    """from_pretrained(gguf_file=...) as a plain dense fp32 model (every weight dequantised).

    transformers 5.x may keep GGUF weights packed behind matmul kernels; a reference must not, so
    GgufConfig(dequantize=True) is passed where it exists. transformers insists on `accelerate`
    for GGUF loads without using it on this CPU-only path; when it is missing, the check is
    bypassed and that is recorded.
    """
    import torch

    kw = dict(gguf_file=gname, dtype=torch.float32, attn_implementation="eager")
    notes = {"api": f"{auto_cls.__name__}.from_pretrained(dir, gguf_file=..., dtype=torch.float32)"}
    try:
        from transformers import GgufConfig

        kw["quantization_config"] = GgufConfig(dequantize=True)
        notes["quantization_config"] = "GgufConfig(dequantize=True)"
    except ImportError:
        pass
    try:
        model = auto_cls.from_pretrained(gdir, **kw)
        notes["accelerate_check_bypassed"] = False
    except ValueError as e:
        if "accelerate" not in str(e):
            raise
        import transformers.modeling_utils as mu

        log("smollm2: `accelerate` is not installed; bypassing transformers' availability check")
        saved = mu.is_accelerate_available
        mu.is_accelerate_available = lambda *a, **k: True
        try:
            model = auto_cls.from_pretrained(gdir, **kw)
        finally:
            mu.is_accelerate_available = saved
        notes["accelerate_check_bypassed"] = True
    model.eval()
    # it must be an ordinary dense fp32 model
    packed = sorted({type(m).__name__ for m in model.modules() if "gguf" in type(m).__name__.lower()})
    dtypes = sorted({str(p.dtype) for p in model.parameters()})
    notes["param_dtypes"] = dtypes
    notes["packed_modules"] = packed
    if packed or dtypes != ["torch.float32"]:
        raise RuntimeError(f"GGUF model is not dense fp32: packed={packed} dtypes={dtypes}")
    return model, notes


def _gguf_scalar(gguf_path: str, key: str):
    from gguf import GGUFReader

    f = GGUFReader(gguf_path).fields.get(key)
    if f is None:
        return None
    v = f.parts[f.data[0]]
    return int(v[0]) if len(v) == 1 else None


def _check_gguf_dequant(model, gguf_path: str) -> dict:
    """Compares a few HF weights with gguf.dequantize of the same GGUF tensors (no permutation)."""
    import numpy as np
    from gguf import GGUFReader, dequantize

    pairs = {
        "token_embd.weight": "model.embed_tokens.weight",
        "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
        "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
        "blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
    }
    params = dict(model.named_parameters())
    out = {}
    reader = GGUFReader(gguf_path)
    for t in reader.tensors:
        if t.name in pairs and pairs[t.name] in params:
            ref = dequantize(t.data, t.tensor_type).astype(np.float32)
            hf = params[pairs[t.name]].detach().numpy()
            ref = ref.reshape(hf.shape)
            out[t.name] = {"type": t.tensor_type.name, "max_abs_diff": float(np.abs(ref - hf).max())}
    return out


def _gguf_string(gguf_path: str, key: str):
    from gguf import GGUFReader

    f = GGUFReader(gguf_path).fields.get(key)
    if f is None:
        return None
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def _restore_smollm_pretokenizer(tok) -> str:
    """transformers' GGUF tokenizer converter ignores tokenizer.ggml.pre = "smollm" and builds a plain
    GPT-2 ByteLevel pre-tokenizer. SmolLM2's published tokenizer (and llama.cpp's "smollm") split
    every digit first, which changes ids where whitespace precedes a digit ("x  1": smollm gives
    x,"  ",1; plain GPT-2 gives x," "," 1"). Put the published pre-tokenizer and decoder back on the
    HF tokenizer's backend (same vocab, merges and special tokens)."""
    from tokenizers import decoders, pre_tokenizers

    backend = tok.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    backend.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    return "pre_tokenizer = Sequence[Digits(individual_digits), ByteLevel(no prefix space)], decoder = ByteLevel"


def make_smollm2(gguf_path: str, prose_path: str, out_dir: str, fix_tokenizer: bool = True) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

    d = os.path.join(out_dir, "smollm2")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    t0 = time.time()
    gdir, gname = os.path.split(os.path.abspath(gguf_path))

    log(f"smollm2: loading tokenizer and model from {gname} (dequantising to fp32)")
    tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    raw_tok = None
    tok_fix = None
    if fix_tokenizer and _gguf_string(gguf_path, "tokenizer.ggml.pre") == "smollm":
        raw_tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
        tok_fix = _restore_smollm_pretokenizer(tok)
        log(f"smollm2: tokenizer: {tok_fix}")
    model, load_notes = _load_gguf_dense(AutoModelForCausalLM, gdir, gname)
    log(f"smollm2: loaded in {time.time() - t0:.1f}s: {type(model).__name__}, vocab {model.config.vocab_size}")
    dequant_check = _check_gguf_dequant(model, gguf_path)
    gguf_bos = _gguf_scalar(gguf_path, "tokenizer.ggml.bos_token_id")
    gguf_eos = _gguf_scalar(gguf_path, "tokenizer.ggml.eos_token_id")
    log(f"smollm2: dequantisation check vs gguf.dequantize: {dequant_check}")

    ref = {
        "model_file": gname,
        "model_sha256": sha256_file(gguf_path),
        "model_class": type(model).__name__,
        "tokenizer_class": type(tok).__name__,
        "tokenizer_fix": tok_fix,
        "versions": versions(),
        "dtype": "float32",
        "device": "cpu",
        "attn_implementation": "eager",
        "vocab_size": int(model.config.vocab_size),
        "load": load_notes,
        "dequant_check": dequant_check,
        "gguf_bos_token_id": gguf_bos,
        "gguf_eos_token_id": gguf_eos,
        "config_eos_token_id": model.config.eos_token_id,
        "tokenizer_bos_token_id": tok.bos_token_id,
        "tokenizer_eos_token_id": tok.eos_token_id,
        "errors": [],
        "files": {},
    }

    # (a) tokenizer cases
    cases = []
    all_text = "\n".join(t for _, t in TOKENIZER_CASES)
    for cname, text in TOKENIZER_CASES + [("all", all_text)]:
        ids = _encode(tok, text)
        case = {"name": cname, "text": text, "ids": ids}
        if cname != "all":
            case["tokens"] = tok.convert_ids_to_tokens(ids)
            case["decoded"] = tok.decode(ids)
        if raw_tok is not None:
            raw = _encode(raw_tok, text)
            if raw != ids:  # what the unmodified HF GGUF tokenizer gives instead
                case["ids_hf_gguf_unmodified"] = raw
        cases.append(case)
    ref["tokenizer_cases"] = cases

    # (b) prose: one full forward
    try:
        with open(prose_path, "r", encoding="utf-8") as f:
            prose = f.read()
        pids_all = _encode(tok, prose)
        if len(pids_all) < PROSE_MIN_TOKENS:
            raise RuntimeError(f"{prose_path}: {len(pids_all)} tokens, need >= {PROSE_MIN_TOKENS}")
        pids = np.asarray(pids_all[:PROSE_MAX_TOKENS], dtype=np.int32)
        n = int(pids.shape[0])
        tf = time.time()
        out = model(input_ids=torch.as_tensor(pids, dtype=torch.long)[None], use_cache=False)
        lg = out.logits[0].float()
        log(f"smollm2: prose forward of {n} tokens in {time.time() - tf:.1f}s")
        top = torch.topk(lg, TOPK, dim=-1)
        lse = torch.logsumexp(lg.double(), dim=-1).float()
        nxt = torch.as_tensor(pids[1:], dtype=torch.long)
        nll = (lse[:-1].double() - lg[:-1].double().gather(1, nxt[:, None])[:, 0]).float()
        arrays = {
            "prose_ids.npy": pids,
            "prose_top20_ids.npy": top.indices.to(torch.int32).numpy(),
            "prose_top20_logits.npy": top.values.numpy().astype(np.float32),
            "prose_logsumexp.npy": lse.numpy().astype(np.float32),
            "prose_nll.npy": nll.numpy().astype(np.float32),
            "prose_last8_logits.npy": lg[-LAST_FULL:].numpy().astype(np.float32),
        }
        for fname, arr in arrays.items():
            save_npy(os.path.join(d, fname), arr)
            ref["files"][fname] = {"dtype": str(arr.dtype), "shape": list(arr.shape)}
        ref["files"]["prose_nll.npy"]["meaning"] = "nll[i] = logsumexp[i] - logits[i, ids[i+1]]"
        ref["files"]["prose_last8_logits.npy"]["meaning"] = f"full logits of positions {n - LAST_FULL}..{n - 1}"
        top_sorted = top.values[:, :-1] - top.values[:, 1:]
        ref["prose"] = {
            "source": os.path.relpath(prose_path) if not os.path.isabs(prose_path) else os.path.basename(prose_path),
            "source_sha256": sha256_file(prose_path),
            "source_tokens": len(pids_all),
            "n_tokens": n,
            "truncated": len(pids_all) > n,
            "text_used": tok.decode(pids.tolist()),
            "max_abs_logit": float(lg.abs().max()),
            "mean_nll": float(nll.double().mean()),
            "perplexity": float(math.exp(float(nll.double().mean()))),
            "min_top1_top2_gap": float(top_sorted[:, 0].min()),
        }
        del out, lg
    except Exception as e:  # keep going: (a) and (c) are still useful
        ref["errors"].append(f"prose: {type(e).__name__}: {e}")
        log(f"smollm2: prose reference FAILED: {e}")

    # (c) chat template + greedy continuation (manual loop with DynamicCache; stops at EOS)
    try:
        messages = [{"role": "user", "content": CHAT_QUESTION}]
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        cids = _encode(tok, prompt)
        direct = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(direct, "keys") and "input_ids" in direct:
            direct = direct["input_ids"]
        direct = [int(i) for i in (direct[0] if direct and isinstance(direct[0], list) else direct)]
        # stop ids: the GGUF's own eos (what a GGUF runtime uses) and the model config's eos; the
        # HF tokenizer converted from a GGUF may report a different eos (recorded, not used)
        stop = set()
        if gguf_eos is not None:
            stop.add(int(gguf_eos))
        cfg_eos = model.config.eos_token_id
        for e in cfg_eos if isinstance(cfg_eos, (list, tuple)) else [cfg_eos]:
            if e is not None:
                stop.add(int(e))
        cache = DynamicCache(config=model.config)
        cur = torch.as_tensor(cids, dtype=torch.long)[None]
        gen, step_top, step_gap = [], [], []
        stopped = False
        for _ in range(CHAT_MAX_NEW):
            out = model(input_ids=cur, past_key_values=cache, use_cache=True)
            cache = out.past_key_values if out.past_key_values is not None else cache
            last = out.logits[0, -1].float()
            v2 = torch.topk(last, 2)
            nid = int(v2.indices[0])
            gen.append(nid)
            step_top.append(float(v2.values[0]))
            step_gap.append(float(v2.values[0] - v2.values[1]))
            if nid in stop:
                stopped = True
                break
            cur = torch.as_tensor([[nid]], dtype=torch.long)
        save_npy(os.path.join(d, "chat_prompt_ids.npy"), np.asarray(cids, dtype=np.int32))
        save_npy(os.path.join(d, "chat_greedy_ids.npy"), np.asarray(gen, dtype=np.int32))
        ref["files"]["chat_prompt_ids.npy"] = {"dtype": "int32", "shape": [len(cids)]}
        ref["files"]["chat_greedy_ids.npy"] = {"dtype": "int32", "shape": [len(gen)]}
        ref["chat"] = {
            "question": CHAT_QUESTION,
            "prompt": prompt,
            "prompt_ids": cids,
            "prompt_ids_apply_chat_template": direct,
            "prompt_ids_agree": direct == cids,
            "chat_template": getattr(tok, "chat_template", None),
            "max_new_tokens": CHAT_MAX_NEW,
            "greedy_ids": gen,
            "greedy_text": tok.decode(gen, skip_special_tokens=False),
            "greedy_text_skip_special": tok.decode(gen, skip_special_tokens=True),
            "stop_ids": sorted(stop),
            "stopped_at_eos": stopped,
            "step_top_logit": step_top,
            "step_top1_top2_gap": step_gap,
        }
        log(f"smollm2: chat greedy -> {ref['chat']['greedy_text']!r}")
    except Exception as e:
        ref["errors"].append(f"chat: {type(e).__name__}: {e}")
        log(f"smollm2: chat reference FAILED: {e}")

    ref["seconds"] = round(time.time() - t0, 2)
    write_json(os.path.join(d, "smollm2_ref.json"), ref)
    if ref["errors"]:
        raise RuntimeError("smollm2: " + "; ".join(ref["errors"]))
    return {"max_abs_logit": ref.get("prose", {}).get("max_abs_logit")}


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Generate HF-transformers reference fixtures (tiny random checkpoints + SmolLM2 GGUF).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--out", required=True, help="output directory (created; per-reference subdirs replaced)")
    ap.add_argument("--smollm2-gguf", default=None, help="SmolLM2 GGUF file; without it the SmolLM2 part is skipped")
    ap.add_argument("--prose", default=DEFAULT_PROSE, help="English text (>= 600 tokens) for the SmolLM2 forward")
    ap.add_argument(
        "--raw-gguf-tokenizer",
        action="store_true",
        help="use the HF GGUF tokenizer as converted (no SmolLM2 digit-split pre-tokenizer fix)",
    )
    ap.add_argument("--only", default=None, help=f"comma list out of {','.join(ALL_NAMES)}")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--tokens", type=int, default=DEFAULT_T, help="T for the tiny models (>= 128, even)")
    ap.add_argument("--threads", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit without importing torch")
    a = ap.parse_args(argv)
    names = ALL_NAMES if a.only is None else [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [n for n in names if n not in ALL_NAMES]
    if bad:
        ap.error(f"unknown names in --only: {bad}; choose from {ALL_NAMES}")
    if a.tokens < 128 or a.tokens % 2:
        ap.error("--tokens must be even and >= 128")
    if "smollm2" in names and a.smollm2_gguf is None:
        if a.only is not None:
            ap.error("--only smollm2 needs --smollm2-gguf PATH")
        names = [n for n in names if n != "smollm2"]
    if a.smollm2_gguf is not None and not os.path.isfile(a.smollm2_gguf):
        ap.error(f"--smollm2-gguf: no such file: {a.smollm2_gguf}")
    a.names = names
    if "smollm2" in names and not os.path.isfile(a.prose):
        print(f"hf_reference: WARNING: --prose {a.prose} not found; the SmolLM2 prose reference will fail "
              "(tokenizer cases and chat are still written)", file=sys.stderr)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    plan = {
        "out": a.out,
        "references": a.names,
        "seed": a.seed,
        "tokens": a.tokens,
        "smollm2_gguf": a.smollm2_gguf,
        "prose": a.prose if "smollm2" in a.names else None,
        "threads": a.threads,
    }
    if a.dry_run:
        print(json.dumps(plan, indent=2))
        return 0

    setup_torch(a.threads)
    os.makedirs(a.out, exist_ok=True)
    v = versions()
    log(f"versions: {v}")
    if not v["transformers"].startswith("5."):
        log(f"WARNING: written for transformers 5.x, found {v['transformers']}")

    status = {}
    for name in a.names:
        t0 = time.time()
        try:
            if name == "smollm2":
                info = make_smollm2(a.smollm2_gguf, a.prose, a.out, fix_tokenizer=not a.raw_gguf_tokenizer)
            else:
                info = make_tiny(name, a.out, a.seed, a.tokens)
            status[name] = {"ok": True, **info, "seconds": round(time.time() - t0, 2)}
        except Exception as e:
            traceback.print_exc()
            log(f"{name}: FAILED: {type(e).__name__}: {e}")
            status[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "seconds": round(time.time() - t0, 2)}

    write_json(os.path.join(a.out, "index.json"), {"plan": {k: plan[k] for k in ("references", "seed", "tokens")},
                                                  "versions": v, "status": status})
    failed = [n for n, s in status.items() if not s["ok"]]
    log(f"done: {len(status) - len(failed)} ok, {len(failed)} failed {failed if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
