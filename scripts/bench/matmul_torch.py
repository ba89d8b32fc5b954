"""float32 matrix-multiply GFLOP/s through PyTorch's CPU BLAS, the peer of medtune's addon matmul
in `npm run bench -- matmul`. Each shape is warmed up, then timed over enough calls to last about
`--seconds`; a product of (m, k) by (k, n) counts 2·m·k·n floating-point operations. Prints one
JSON line.

  .venv-bench/bin/python scripts/bench/matmul_torch.py --shapes 1024x1024x1024,2048x576x1536 --threads 2
"""

import argparse
import time

from bench_common import emit, run, set_threads


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", required=True, help="MxKxN,...")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.0)
    a = p.parse_args()
    set_threads(a.threads)
    import torch

    torch.set_num_threads(a.threads)
    out = []
    for shape in a.shapes.split(","):
        m, k, n = (int(v) for v in shape.split("x"))
        x = torch.randn(m, k, dtype=torch.float32)
        y = torch.randn(k, n, dtype=torch.float32)
        torch.mm(x, y)
        calls, t0 = 0, time.perf_counter()
        while True:
            torch.mm(x, y)
            calls += 1
            el = time.perf_counter() - t0
            if el >= a.seconds:
                break
        out.append({"shape": [m, k, n], "calls": calls, "seconds": el, "gflops": 2 * m * k * n * calls / el / 1e9})
    emit(
        {
            "subject": "torch",
            "shapes": out,
            "threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__},
        }
    )


if __name__ == "__main__":
    run(main)
