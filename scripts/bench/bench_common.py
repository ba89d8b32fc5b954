"""Shared by the peer scripts of `npm run bench` (scripts/bench/*.py): the benchmark data file
written by src/bench/train-data.ts, peak RSS, and the one JSON result line the TypeScript side
parses (the last line of stdout; everything else goes to stderr)."""

import argparse
import json
import os
import resource
import sys
import traceback


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_rss_bytes():
    """High-water RSS of this process and of any children it waited for (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024


def load_rows(path):
    """The packed rows: each row is seq+1 token ids and a 0/1 supervision flag per token; the
    target of input position j is token j+1, counted when mask[j+1] is 1."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    rows = data["rows"]
    seq = int(data["seq"])
    for i, r in enumerate(rows):
        if len(r["tokens"]) != seq + 1 or len(r["mask"]) != seq + 1:
            raise ValueError(f"{path}: row {i} has {len(r['tokens'])} tokens, expected {seq + 1}")
    return data


def batches(data, batch, steps):
    """Rows for each step, in order, wrapping around the file (every peer gets the same rows)."""
    rows = data["rows"]
    out = []
    for s in range(steps):
        out.append([rows[(s * batch + i) % len(rows)] for i in range(batch)])
    return out


def emit(result):
    result.setdefault("ok", True)
    result["peakRssBytes"] = peak_rss_bytes()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def fail(message):
    sys.stdout.write(json.dumps({"ok": False, "error": message}) + "\n")
    sys.stdout.flush()
    sys.exit(1)


def set_threads(n):
    """Same thread count for every peer: set before numpy/torch/mlx start their pools."""
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = str(n)


def train_args(model_flag, extra=()):
    """The flags every training peer takes: the model (`model_flag`) and the shared shapes; extra:
    (flag, argparse keywords) pairs of the peer's own."""
    p = argparse.ArgumentParser()
    for flag, kw in extra:
        p.add_argument(flag, **kw)
    p.add_argument(model_flag, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def run(main):
    """Runs a peer's main so that it prints one JSON line either way: the TS side names the peer
    and the error; the traceback goes to stderr."""
    try:
        main()
    except Exception as e:
        traceback.print_exc()
        fail(f"{type(e).__name__}: {e}")
