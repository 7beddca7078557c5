#!/usr/bin/env python3
"""Writes the reference fixtures for spf's GGUF block dequantization (tests/fixtures/quant/).

The expected values come from gguf-py (`pip install gguf`), an implementation independent of spf:

  <type>.bin  raw blocks (random bytes whose f16 scale fields are overwritten with sane values)
  <type>.npy  float32 values gguf.quants.dequantize() produces from those bytes

and, when the default model is present, rows of its tensors dequantized by gguf-py:

  model_rows.json  which tensors/rows, their types and shapes, plus a few metadata facts
  model_<tensor>.npy  float32 [n_rows, row_len]

Usage: tools/make_quant_fixtures.py [--out tests/fixtures/quant] [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
Deterministic: the same gguf-py version writes the same bytes.
"""

import argparse
import json
import os
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as T
except ImportError:  # pragma: no cover
    sys.exit("make_quant_fixtures.py needs the gguf package (pip install gguf)")

# type -> (blocks to write, offsets of f16 fields to overwrite, whether those may be negative)
BLOCK_TYPES = {
    T.Q8_0: (8, [0], [True]),
    T.Q4_0: (8, [0], [True]),
    T.Q4_1: (8, [0, 2], [True, True]),  # d, m
    T.Q4_K: (4, [0, 2], [False, False]),  # d, dmin
    T.Q5_K: (4, [0, 2], [False, False]),
    T.Q6_K: (4, [208], [True]),
}

# Rows of the default model checked by the C++ tests (Q8_0 embedding and two Q4_1 weights).
MODEL_ROWS = {
    "token_embd.weight": [0, 1, 12345, 49151],
    "blk.0.attn_q.weight": [0, 100, 575],
    "blk.29.ffn_down.weight": [0, 575],
}


def sane_f16(rng, signed):
    mag = rng.uniform(1e-3, 5e-2)
    if signed and rng.random() < 0.5:
        mag = -mag
    return np.array([mag], dtype=np.float16).tobytes()


def write_block_fixtures(out, rng):
    for qt, (n_blocks, fields, signed) in BLOCK_TYPES.items():
        block, type_size = gguf.GGML_QUANT_SIZES[qt]
        raw = bytearray(rng.integers(0, 256, size=n_blocks * type_size, dtype=np.uint8).tobytes())
        for b in range(n_blocks):
            for off, sg in zip(fields, signed):
                raw[b * type_size + off: b * type_size + off + 2] = sane_f16(rng, sg)
        arr = np.frombuffer(bytes(raw), dtype=np.uint8)
        values = gguf.quants.dequantize(arr, qt).astype(np.float32).reshape(-1)
        assert values.size == n_blocks * block
        name = qt.name.lower()
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(bytes(raw))
        np.save(os.path.join(out, name + ".npy"), values)
        print(f"{name}: {n_blocks} blocks, {len(raw)} bytes")


def write_model_rows(out, model_path):
    reader = gguf.GGUFReader(model_path)
    by_name = {t.name: t for t in reader.tensors}
    entries = []
    for name, rows in MODEL_ROWS.items():
        t = by_name[name]
        data = np.asarray(t.data)  # quantized: [rows, bytes per row] uint8
        values = gguf.quants.dequantize(data[rows], t.tensor_type).astype(np.float32)
        file = "model_" + name.replace(".", "_") + ".npy"
        np.save(os.path.join(out, file), values)
        entries.append({
            "name": name,
            "type": t.tensor_type.name,
            "shape": [int(x) for x in reversed(t.shape.tolist())],  # PyTorch order
            "rows": rows,
            "file": file,
        })
        print(f"{name}: {t.tensor_type.name}, rows {rows}")
    tokens = reader.fields["tokenizer.ggml.tokens"]
    facts = {
        "n_tensors": len(reader.tensors),
        "architecture": bytes(reader.fields["general.architecture"].parts[-1]).decode(),
        "n_tokens": len(tokens.data),
        "tensors": entries,
    }
    with open(os.path.join(out, "model_rows.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "quant"))
    ap.add_argument("--model", default=os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=20261122)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_block_fixtures(args.out, np.random.default_rng(args.seed))
    if os.path.exists(args.model):
        write_model_rows(args.out, args.model)
    else:
        print(f"{args.model} not found: model rows not written (run scripts/fetch-model.sh)")


if __name__ == "__main__":
    main()
