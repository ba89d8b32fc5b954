"""LoRA training with mlx-lm on MLX's CPU backend, the peer of medtune's trainer in
`npm run bench -- train`. It runs mlx-lm's own training loop (mlx_lm.tuner.trainer.train: its
compiled step, its LoRA layers, its AdamW) on a Hugging Face directory, fed the bench's rows
through a batch iterator and a masked cross-entropy, so every peer trains on the same tokens with
the same masks (`mlx_lm lora` reads text and tokenizes it itself). Prints one JSON line.

  .venv-bench/bin/python scripts/bench/train_mlx_lm.py --hf-dir data/cache/bench/hf-X --data rows.json \
      --steps 5 --batch 4 --rank 16
"""

import os
import time
from pathlib import Path

from bench_common import batches, emit, load_rows, log, run, set_threads, train_args

MODULES = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
]


def bundled_blas():
    """The BLAS libraries the mlx-cpu wheel ships (its matrix products run on them)."""
    import glob

    import mlx.core as mx

    # mlx is a namespace package: site-packages/mlx/core.*.so -> site-packages/mlx_cpu.libs
    libs = os.path.join(os.path.dirname(os.path.dirname(mx.__file__)), "mlx_cpu.libs")
    return sorted(os.path.basename(f) for f in glob.glob(os.path.join(libs, "lib*blas*")))


def main():
    a = train_args("--hf-dir")
    set_threads(a.threads)

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import mlx_lm
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load_model

    data = load_rows(a.data)
    mx.random.seed(0)
    t0 = time.perf_counter()
    model, _ = load_model(Path(a.hf_dir))
    model.freeze()
    # mlx-lm's LoRA takes the scale itself (alpha / rank), not alpha.
    linear_to_lora_layers(
        model,
        len(model.layers),
        {"rank": a.rank, "scale": a.alpha / a.rank, "dropout": 0.0, "keys": MODULES},
    )
    opt = optim.AdamW(learning_rate=a.lr, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.0)
    load_s = time.perf_counter() - t0
    log(f"mlx-lm: loaded in {load_s:.1f} s")

    steps = batches(data, a.batch, a.steps)
    inputs_n = [a.batch * int(data["seq"])] * a.steps
    supervised_n = [sum(sum(r["mask"][1:]) for r in rows) for rows in steps]

    def iterate(dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None):
        for rows in steps:
            toks = mx.array([r["tokens"] for r in rows], dtype=mx.int32)
            mask = mx.array([r["mask"][1:] for r in rows], dtype=mx.float32)
            yield toks, mask

    def masked_loss(model, toks, mask):
        logits = model(toks[:, :-1])  # (B, L, V)
        ce = nn.losses.cross_entropy(logits, toks[:, 1:]) * mask
        n = mask.sum()
        return ce.astype(mx.float32).sum() / mx.maximum(n, 1), n

    step_s, losses = [], []

    class Timer:
        def on_train_loss_report(self, info):
            # mlx-lm's own time of the step (steps_per_report=1): compute and eval, no reporting.
            step_s.append(1.0 / info["iterations_per_second"])
            losses.append(float(info["train_loss"]))
            log(f"mlx-lm: step {info['iteration']}/{a.steps} loss {losses[-1]:.4f} {step_s[-1]:.2f} s")

        def on_val_loss_report(self, info):
            pass

    args = TrainingArgs(
        batch_size=a.batch,
        iters=a.steps,
        steps_per_report=1,
        steps_per_eval=a.steps + 1,
        steps_per_save=a.steps + 1,
        max_seq_length=int(data["seq"]) + 1,
        adapter_file=str(Path(a.data).with_suffix(".mlx-adapters.safetensors")),
    )
    train(
        model,
        opt,
        train_dataset=[0],
        val_dataset=None,
        args=args,
        loss=masked_loss,
        iterate_batches=iterate,
        training_callback=Timer(),
    )
    emit(
        {
            "subject": "mlx-lm",
            "loadSeconds": load_s,
            "stepSeconds": step_s,
            "losses": losses,
            "inputTokens": inputs_n,
            "supervisedTokens": supervised_n,
            "versions": {"mlx": mx.__version__, "mlx-lm": mlx_lm.__version__, "blas": bundled_blas()},
        }
    )


if __name__ == "__main__":
    run(main)
