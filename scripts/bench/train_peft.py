"""LoRA training with Hugging Face PEFT + transformers on PyTorch CPU, the peer of medtune's
trainer in `npm run bench -- train`. The GGUF is dequantized to float32 by transformers (through
the gguf package); the rows come from the bench's data file, so every peer trains on the same
tokens with the same masks. Prints one JSON line. --bf16: the forward (and so its backward) under
torch.autocast(bfloat16), PyTorch's mixed precision on the CPU (oneDNN's bfloat16 kernels: AMX
where the CPU has it), the peer of medtune's bfloat16 packed products; the weights, LoRA
parameters and optimizer stay float32.

  .venv-bench/bin/python scripts/bench/train_peft.py --gguf models/base/X.gguf --data rows.json \
      --steps 5 --batch 4 --rank 16 --threads 2 [--bf16]
"""

import contextlib

import os
import time

from bench_common import batches, emit, load_rows, log, run, set_threads, train_args

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    a = train_args("--gguf", extra=[("--bf16", {"action": "store_true"})])
    who = "peft-bf16" if a.bf16 else "peft"
    set_threads(a.threads)

    import torch
    import torch.nn.functional as F
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    data = load_rows(a.data)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(a.gguf)),
        gguf_file=os.path.basename(a.gguf),
        dtype=torch.float32,
    )
    cfg = LoraConfig(
        r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=MODULES, bias="none"
    )
    model = get_peft_model(model, cfg)
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    load_s = time.perf_counter() - t0
    log(f"{who}: loaded in {load_s:.1f} s, {sum(q.numel() for q in params)} trainable parameters")

    step_s, losses, inputs_n, supervised_n = [], [], [], []
    for s, rows in enumerate(batches(data, a.batch, a.steps)):
        toks = torch.tensor([r["tokens"] for r in rows], dtype=torch.long)
        mask = torch.tensor([r["mask"] for r in rows], dtype=torch.float32)[:, 1:]
        x, y = toks[:, :-1], toks[:, 1:]
        t = time.perf_counter()
        precision = (
            torch.autocast("cpu", dtype=torch.bfloat16) if a.bf16 else contextlib.nullcontext()
        )
        with precision:
            logits = model(input_ids=x).logits  # (B, L, V)
        logits = logits.float()
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        n = mask.sum()
        # a step without targets has loss 0 (as medtune reports it), not 0/0
        loss = (ce * mask.reshape(-1)).sum() / n.clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step_s.append(time.perf_counter() - t)
        losses.append(loss.item())
        inputs_n.append(int(x.numel()))
        supervised_n.append(int(n.item()))
        log(f"{who}: step {s + 1}/{a.steps} loss {losses[-1]:.4f} {step_s[-1]:.2f} s")

    emit(
        {
            "subject": who,
            "loadSeconds": load_s,
            "stepSeconds": step_s,
            "losses": losses,
            "inputTokens": inputs_n,
            "supervisedTokens": supervised_n,
            "threads": torch.get_num_threads(),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
        }
    )


if __name__ == "__main__":
    run(main)
