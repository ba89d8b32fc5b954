"""Reference fixtures for GGUF block dequantization: K-quants (Q2_K … Q6_K) and Q5_0 / Q5_1.

Native loading (native/src/kquants.cc) and the TypeScript codecs (src/merge/quants.ts) must decode
ggml's block formats exactly as ggml does. This script writes, per type, a few random blocks and
gguf-py's reference dequantization of them to test/fixtures/kquants/<TYPE>.json:

    {"type": "Q4_K", "typeId": 12, "rows": 2, "cols": 512, "bytes": "<base64 of the raw blocks>",
     "values": [rows * cols float32 values, row-major]}

Block bytes are random except the f16 super-block scales, which are set to sane magnitudes
(|d| in [1e-3, 1e-1], as in real weights) so the values are finite and well spread. Fixed seed:
the output is the same on every run for a given gguf version (written to manifest.json).

    /work/main/.venv-bench/bin/python scripts/make_kquant_fixtures.py

(any Python with numpy and gguf==0.19.0: pip install gguf==0.19.0).
"""

from __future__ import annotations

import base64
import json
from importlib.metadata import version
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "kquants"
T = gguf.GGMLQuantizationType

# type -> (rows, blocks per row, byte offsets of the f16 scales inside one block)
CASES: dict[str, tuple[int, int, list[int]]] = {
    "Q2_K": (2, 2, [80, 82]),
    "Q3_K": (2, 2, [108]),
    "Q4_K": (2, 2, [0, 2]),
    "Q5_K": (2, 2, [0, 2]),
    "Q6_K": (2, 2, [208]),
    "Q5_0": (2, 4, [0]),
    "Q5_1": (2, 4, [0, 2]),
}


def main() -> None:
    rng = np.random.default_rng(13)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (rows, per_row, scale_offsets) in CASES.items():
        qtype = T[name]
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        n_blocks = rows * per_row
        raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
        for off in scale_offsets:
            mag = 10 ** rng.uniform(-3, -1, size=n_blocks)
            # Q5_1's second f16 is the (signed) minimum; the others are non-negative scales.
            sign = rng.choice([-1.0, 1.0], size=n_blocks) if (name == "Q5_1" and off == 2) else 1.0
            raw[:, off : off + 2] = (mag * sign).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
        cols = per_row * block_elems
        values = dequantize(raw.reshape(rows, per_row * block_bytes), qtype).astype(np.float32)
        assert values.shape == (rows, cols) and np.isfinite(values).all()
        doc = {
            "type": name,
            "typeId": int(qtype),
            "rows": rows,
            "cols": cols,
            "bytes": base64.b64encode(raw.tobytes()).decode("ascii"),
            "values": [float(v) for v in values.reshape(-1)],
        }
        (OUT / f"{name}.json").write_text(json.dumps(doc) + "\n")
        print(f"{name}: {rows}x{cols}, |v| max {np.abs(values).max():.4g}")
    manifest = {"gguf": version("gguf"), "numpy": np.__version__, "seed": 13}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
