"""A Hugging Face directory (config.json, model.safetensors, tokenizer files) from a GGUF, for the
mlx-lm peer of `npm run bench -- train` when medtune's own GGUF → HF export is not available.
transformers dequantizes the GGUF to float32 but will not save_pretrained a GGUF-loaded model, so
the weights are copied into a fresh model of the same config first. Prints one JSON line.

  .venv-bench/bin/python scripts/bench/make_hf_dir.py --gguf models/base/X.gguf --out data/cache/bench/hf-X
"""

import argparse
import os
import shutil
import time

from bench_common import emit, log, run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    d, f = os.path.dirname(os.path.abspath(a.gguf)), os.path.basename(a.gguf)
    loaded = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    config = AutoConfig.from_pretrained(d, gguf_file=f)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # A tied lm_head has no tensor of its own; anything else missing is a real gap.
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ValueError(f"{a.gguf}: weights do not match the config: missing {missing}, unexpected {unexpected}")
    tmp = a.out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(tmp)
    shutil.rmtree(a.out, ignore_errors=True)
    os.replace(tmp, a.out)
    log(f"make_hf_dir: wrote {a.out} in {time.perf_counter() - t0:.1f} s")
    emit({"subject": "transformers", "dir": a.out, "seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    run(main)
