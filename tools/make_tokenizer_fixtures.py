#!/usr/bin/env python3
"""Writes the tokenizer reference fixtures under tests/fixtures/tokenizer/ from HF's own libraries.

Usage: python3 tools/make_tokenizer_fixtures.py MODEL.gguf [OUT_DIR]
       python3 tools/make_tokenizer_fixtures.py --nfc-tables src/tokenizer/nfc_tables.cpp
  MODEL.gguf  SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh prints its path)
  OUT_DIR     defaults to tests/fixtures/tokenizer next to this script's repo
Needs: pip install "transformers>=4.46,<5" tokenizers gguf jinja2 numpy   (CPU only; torch is not needed)

Outputs:
  smollm2_tokenizer.json  HF's tokenizer built from the GGUF (AutoTokenizer.from_pretrained(dir, gguf_file=...)),
                          with pre_tokenizer/decoder/post_processor set back to the ones SmolLM2 publishes (see
                          restore_smollm2_pipeline for why), saved compact.
  smollm2_cases.json      {"cases": [{text, ids, decoded}], "chat": {...}}: HF encodings without added special tokens
                          (and HF's decode of those ids), and
                          the full HF chat-template rendering of a one-message chat.
  nfc_cases.json          [{text, nfc}]: HF's NFC normalizer (tokenizers.normalizers.NFC) on varied text.
  pretok_cases.json       {name: {regex, cases: [{text, pieces}]}}: pure regex splits by the `tokenizers` library
                          (Split(Regex, "isolated"); smollm adds Digits(individual_digits) first), which validates
                          the PCRE2 patterns of src/tokenizer against the Rust engine HF uses.
"""

import json
import os
import sys
import tempfile

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN35 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")

PROSE = (
    "The history of the city stretches back more than two thousand years. Merchants arrived by river, "
    "bringing salt, cloth and news from distant ports; scholars followed, and by the twelfth century the "
    "town's library held manuscripts that travellers crossed half a continent to read. Not everything went "
    "well: fires in 1347 and 1666 destroyed whole districts, and a long dispute over the bridge tolls "
    "(\"the fairest tax ever levied\", one mayor insisted) kept the council busy for decades. Today the old "
    "quarter is quiet. Visitors wander its narrow lanes, stop for coffee at 9:30am, and wonder how people "
    "lived here — without electricity, running water, or the internet we've come to take for granted.")

TEXTS = [
    "Hello  world 12345 café 中文 def f(x):\n\treturn x",
    "What is the capital of France?",
    "Hello, we can use",
    "\n",
    "Hello world! 123",
    "  multiple   spaces",
    "",
    " ",
    "a",
    "I'll've been there, you're right, we'd, they've, she's, I'm, it'd, DON'T, WE'LL, O'Neil's",
    "naïve façade résumé Ångström Zürich",
    "e\u0301 combining, Devanagari: नमस्ते दुनिया, क़ ख़",
    "中文字符测试，日本語のテキスト、한국어 텍스트입니다",
    "Emoji: 😀👍🏽🇺🇸 ❤️ 👨‍👩‍👧 🤖🤖",
    "Numbers 3.14159, 1,000,000, 2024-11-22, x  1, a\t2, ١٢٣ Ⅷ ½ 007",
    "   leading spaces",
    "trailing spaces   ",
    "\t\ttabs\tand\nnewlines\r\n\r\nmixed  \n  ",
    "a\n\n\nb",
    " \n \n",
    "      ",
    "def foo(x):\n    return x ** 2  # comment\n\nfor i in range(10):\n\tprint(f\"{i:>3}\")\n",
    "int main() { std::vector<int> v{1,2,3}; return v[0] != 0 ? -1 : 0x7f; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "<|im_start|>user\nhi<|im_end|>",
    "<|endoftext|><|endoftext|>text<|im_end|>\n",
    "<|im_start|><|im_end|>",
    "partial <|im_sta rt|> token <|im_end",
    "<repo_name>spf<file_sep>main.cpp",
    "zero\u200bwidth nbsp\u00a0here",
    "x\u0085\u0085y x\u180e\u180ey \u3000ideographic\u3000 space",
    "Ω≈ç√∫˜µ≤≥÷ ﬁ ligature ＡＢＣ",
    "Россия и Україна, Ελληνικά, עברית, مرحبا بالعالم",
    "Tab\u000bvt\u000cff end",
    "$$$ !!! ??? ... --- ((parens)) [[x]] {y} ~~~",
    "ctrl\x04\x06 chars \x13\x14x \x00\x7f",  # bytes missing from SmolLM2's vocab -> fused unk
    "\U00050000\U00090000 rare planes \U0001F9E0",
    PROSE,
]

PRETOK_TEXTS = TEXTS + [
    "e\u0301\u0301x  e\u0301",
    "\u0915\u093c\u093f\u0924\u093e\u092c \u0939\u093f\u0902\u0926\u0940",
    "I'll've I'LL'VE 'S 's'",
    "   x",
    "x   ",
    "x \n\n  y",
    "a  \t b\r\n\r\n c",
    "1234567 12 a1b22c333",
    "'\u0301s",
    "\u0301\u0301 combining first",
    "it'\u017f x'S y'\u212a",  # (?i) case folding: long s, Kelvin sign
]


NFC_TEXTS = [
    "plain ascii", "café", "cafe\u0301", "e\u0301\u0301x", "A\u030a\u0301", "\u212b", "\u2126 ohm",
    "o\u0308\u0304 \u01ea\u0304 q\u0307\u0323 q\u0323\u0307", "\u1e0b\u0323 d\u0307\u0323 d\u0323\u0307",
    "\u0958 \u0915\u093c \u0929 \u0928\u093c", "\u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8 \u1112\u1175",
    "\uf900\uf901 \u2f800 CJK compat", "\u0344 \u0340\u0341 \u0374 \u037e \u0387", "a\u0328\u0301 \u0105\u0301",
    "\u0b47\u0b3e \u0b47\u0b57 \u0bc6\u0bbe", "\u1025\u102e", "\u05d0\u05b7 \ufb2e \ufb1d",
    "s\u0323\u0307 \u1e9b\u0323", "\u0301 leading mark", "x\u0300\u0315\u0301", "中文 日本語 한국어 😀",
    "ǅ ﬁ ①", "\u00c5\u0301\u0308", "\u0061\u0305\u0301\u0302", "Ệ \u1ec6 E\u0323\u0302 E\u0302\u0323",
]


def write_nfc_tables(out_path):
    """Unicode data for src/tokenizer/nfc.cpp, from this Python's unicodedata: canonical combining classes
    (as runs) and single-level canonical decompositions with a flag for pairs that NFC recomposes."""
    import unicodedata

    runs = []
    for cp in range(0x110000):
        c = unicodedata.combining(chr(cp))
        if c == 0:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == c:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, c])
    decomps = []
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<") or 0xAC00 <= cp <= 0xD7A3:
            continue
        parts = [int(x, 16) for x in d.split()]
        assert 1 <= len(parts) <= 2, hex(cp)
        # A pair is a primary composite unless NFC leaves it decomposed (composition exclusions, non-starters).
        composes = len(parts) == 2 and unicodedata.normalize("NFC", "".join(map(chr, parts))) == chr(cp)
        decomps.append((cp, parts[0], parts[1] if len(parts) == 2 else 0, int(composes)))

    def rows(items, per_line):
        lines = []
        for i in range(0, len(items), per_line):
            lines.append("    " + " ".join(items[i:i + per_line]))
        return "\n".join(lines)

    ccc_items = [f"{{0x{a:X}, 0x{b:X}, {c}}}," for a, b, c in runs]
    dec_items = [f"{{0x{a:X}, 0x{b:X}, 0x{c:X}, {k}}}," for a, b, c, k in decomps]
    text = f"""// Generated by tools/make_tokenizer_fixtures.py --nfc-tables from Unicode {unicodedata.unidata_version}
// (Python's unicodedata). Do not edit by hand. Canonical combining classes as runs, and
// single-level canonical decompositions (Hangul syllables excluded: they are algorithmic) with a
// "recomposes" flag.
#include "tokenizer/nfc.h"

// clang-format off
namespace spf::nfc_data {{

const char* const kUnicodeVersion = "{unicodedata.unidata_version}";

const CccRun kCccRuns[] = {{
{rows(ccc_items, 4)}
}};
const size_t kCccRunCount = sizeof(kCccRuns) / sizeof(kCccRuns[0]);

const Decomp kDecomps[] = {{
{rows(dec_items, 3)}
}};
const size_t kDecompCount = sizeof(kDecomps) / sizeof(kDecomps[0]);

}}  // namespace spf::nfc_data
// clang-format on
"""
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {len(runs)} combining-class runs and {len(decomps)} decompositions to {out_path}")


def restore_smollm2_pipeline(tok_json):
    """transformers' GGUF converter ignores tokenizer.ggml.pre ("smollm") and writes a plain GPT-2 ByteLevel
    pre-tokenizer (no digit split), a SentencePiece-style decoder chain and a BOS post-processor. The published
    SmolLM2 tokenizer (and llama.cpp's "smollm") splits every digit first, which differs on whitespace before a
    digit ("x  1": smollm gives "x","  ","1", plain GPT-2 gives "x"," "," 1"). Put SmolLM2's pipeline back."""
    tok_json["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    }
    tok_json["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    tok_json["post_processor"] = None
    tok_json["normalizer"] = None
    tok_json["model"]["byte_fallback"] = False
    return tok_json


def load_hf_from_gguf(gguf_path):
    try:
        import torch  # noqa: F401
    except ImportError:
        # Only the availability gate needs torch; metadata-only loading (return_tensors=False) never uses it.
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
        gguf_utils.is_torch_available = lambda: True
    from transformers import AutoTokenizer
    d, f = os.path.split(os.path.abspath(gguf_path))
    return AutoTokenizer.from_pretrained(d, gguf_file=f)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--nfc-tables":
        write_nfc_tables(sys.argv[2])
        return
    gguf_path = sys.argv[1]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "tests", "fixtures", "tokenizer")
    os.makedirs(out_dir, exist_ok=True)

    from tokenizers import Regex, Tokenizer
    from tokenizers import pre_tokenizers as P

    hf = load_hf_from_gguf(gguf_path)
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as fh:
            tok_json = json.load(fh)
    raw_gguf_tok = Tokenizer.from_str(json.dumps(tok_json))
    tok_json = restore_smollm2_pipeline(tok_json)
    tok_path = os.path.join(out_dir, "smollm2_tokenizer.json")
    with open(tok_path, "w", encoding="utf-8") as fh:
        json.dump(tok_json, fh, ensure_ascii=False, separators=(",", ":"))
    tok = Tokenizer.from_file(tok_path)

    cases = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        raw_ids = raw_gguf_tok.encode(text, add_special_tokens=False).ids
        case = {"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        if raw_ids != ids:
            case["ids_hf_gguf_converter"] = raw_ids  # what the unrestored GGUF conversion gives
        cases.append(case)

    chat_messages = [{"role": "user", "content": "What is the capital of France?"}]
    chat_text = hf.apply_chat_template(chat_messages, add_generation_prompt=True, tokenize=False)
    chat_ids = hf.apply_chat_template(chat_messages, add_generation_prompt=True, tokenize=True)
    if isinstance(chat_ids, dict):
        chat_ids = chat_ids["input_ids"]
    assert tok.encode(chat_text, add_special_tokens=False).ids == list(chat_ids)
    doc = {
        "source": "HF tokenizers on the SmolLM2-135M-Instruct GGUF tokenizer; tools/make_tokenizer_fixtures.py",
        "cases": cases,
        "chat": {"messages": chat_messages, "add_generation_prompt": True, "text": chat_text, "ids": list(chat_ids)},
    }
    with open(os.path.join(out_dir, "smollm2_cases.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)

    splitters = {
        "gpt2": (GPT2, P.Split(Regex(GPT2), behavior="isolated")),
        "smollm": (GPT2, P.Sequence([P.Digits(individual_digits=True), P.Split(Regex(GPT2), behavior="isolated")])),
        "llama3": (LLAMA3, P.Split(Regex(LLAMA3), behavior="isolated")),
        "qwen2": (QWEN2, P.Split(Regex(QWEN2), behavior="isolated")),
        "qwen35": (QWEN35, P.Split(Regex(QWEN35), behavior="isolated")),
    }
    # Sanity: ByteLevel's built-in regex is the GPT-2 pattern above (pieces come back byte-mapped, compare lengths).
    bl = P.ByteLevel(add_prefix_space=False, use_regex=True)
    for text in PRETOK_TEXTS:
        a = [o for _, o in bl.pre_tokenize_str(text)]
        b = [o for _, o in splitters["gpt2"][1].pre_tokenize_str(text)]
        assert a == b, (text, a, b)
    pretok = {}
    for name, (regex, splitter) in splitters.items():
        pretok[name] = {
            "regex": regex,
            "cases": [{"text": t, "pieces": [p for p, _ in splitter.pre_tokenize_str(t)]} for t in PRETOK_TEXTS],
        }
    with open(os.path.join(out_dir, "pretok_cases.json"), "w", encoding="utf-8") as fh:
        json.dump(pretok, fh, ensure_ascii=False, indent=1)

    from tokenizers import normalizers
    nfc = normalizers.NFC()
    nfc_cases = [{"text": t, "nfc": nfc.normalize_str(t)} for t in NFC_TEXTS + PRETOK_TEXTS]
    with open(os.path.join(out_dir, "nfc_cases.json"), "w", encoding="utf-8") as fh:
        json.dump(nfc_cases, fh, ensure_ascii=False, indent=1)
    print(f"wrote {len(cases)} encode cases, {len(PRETOK_TEXTS)} pre-tokenizer texts x {len(pretok)} regexes "
          f"to {out_dir}")


if __name__ == "__main__":
    main()
