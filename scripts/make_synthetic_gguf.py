"""A synthetic llama GGUF with random Q4_0 weights, for memory and speed benchmarks at a real size.

`npm run bench -- packed` trains it briefly with the 4-bit base kept packed and expanded to float32
(src/bench/packed.ts) to check issue 9's goal: weight memory about the file size, tokens/s at least
80% of the expanded base's. The default shape is ~0.95B parameters (TinyLlama's widths, 16 layers,
full multi-head attention), ~540 MB on disk:

    /work/main/.venv-bench/bin/python scripts/make_synthetic_gguf.py --out /tmp/synthetic-1b.Q4_0.gguf

(any Python with numpy and gguf==0.19.0); it prints one JSON line with the path and the
parameter count. Not a fixture to commit: write it to /tmp or models/.
Every projection, the embedding and the output head are Q4_0 (blocks of 32 weights: an f16 scale
d and 16 bytes of 4-bit levels q, w = d·(q − 8)); the bytes are random, with d set so that the
weights of a row of width n have a standard deviation of about 1/√n, as an initialised model's.
The norms are F32 ones. There is no tokenizer: the benchmark feeds random token ids.
"""

from __future__ import annotations

import argparse
import json
import math

import gguf
import numpy as np

Q4_0 = gguf.GGMLQuantizationType.Q4_0
BLOCK_WEIGHTS, BLOCK_BYTES = gguf.GGML_QUANT_SIZES[Q4_0]  # 32, 18
LEVEL_STD = math.sqrt((16**2 - 1) / 12)  # std of a uniform level in 0..15


def q4_0_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Random Q4_0 bytes of a (rows, cols) weight: (rows, cols / 32 * 18) uint8."""
    blocks = rows * (cols // BLOCK_WEIGHTS)
    raw = rng.integers(0, 256, size=(blocks, BLOCK_BYTES), dtype=np.uint8)
    d = (rng.uniform(0.8, 1.2, size=blocks) / (LEVEL_STD * math.sqrt(cols))).astype(np.float16)
    raw[:, 0:2] = d.view(np.uint8).reshape(blocks, 2)
    return raw.reshape(rows, (cols // BLOCK_WEIGHTS) * BLOCK_BYTES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="the .gguf to write")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    D, F, H, KV = a.hidden, a.ffn, a.heads, a.kv_heads
    hd = D // H
    for name, n in [("hidden", D), ("ffn", F)]:
        if n % BLOCK_WEIGHTS:
            raise SystemExit(f"--{name} {n}: Q4_0 rows must be a multiple of {BLOCK_WEIGHTS}")
    rng = np.random.default_rng(a.seed)
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"synthetic-llama-{a.layers}x{D}-q4_0")
    w.add_context_length(2048)
    w.add_embedding_length(D)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(a.vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)

    def q4(name: str, rows: int, cols: int) -> None:
        w.add_tensor(name, q4_0_rows(rng, rows, cols), raw_dtype=Q4_0)

    def ones(name: str) -> None:
        w.add_tensor(name, np.ones(D, dtype=np.float32))

    q4("token_embd.weight", a.vocab, D)
    ones("output_norm.weight")
    q4("output.weight", a.vocab, D)
    for b in range(a.layers):
        p = f"blk.{b}."
        ones(p + "attn_norm.weight")
        ones(p + "ffn_norm.weight")
        q4(p + "attn_q.weight", H * hd, D)
        q4(p + "attn_k.weight", KV * hd, D)
        q4(p + "attn_v.weight", KV * hd, D)
        q4(p + "attn_output.weight", D, H * hd)
        q4(p + "ffn_gate.weight", F, D)
        q4(p + "ffn_up.weight", F, D)
        q4(p + "ffn_down.weight", D, F)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    params = 2 * a.vocab * D + a.layers * (2 * H * hd * D + 2 * KV * hd * D + 3 * F * D)
    # One JSON line, as the benchmark's children print (src/bench/packed.ts reads it).
    print(json.dumps({"ok": True, "path": a.out, "parameters": params}))


if __name__ == "__main__":
    main()
