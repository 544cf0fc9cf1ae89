#!/usr/bin/env python3
"""Times a grcc-emitted PyTorch module the way grcc bench times grcc.

    torch_bench.py MODULE.py --batch N --threads T [--rounds R] [--time S]

Random weights (as scripts/torchref/make_case.py makes them), eval mode,
torch.inference_mode(), warm-up, then forwards for at least R rounds and S
seconds. Prints one JSON object: median_ms, min_ms, images_per_s,
peak_rss_mb (the process's peak resident memory).
"""

import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "torchref"))
import emitted  # noqa: E402
import make_case  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--time", type=float, default=3.0)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    mod, cls = emitted.load(a.module)
    model = cls()
    make_case.randomise(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn((a.batch,) + tuple(mod.INPUT_SHAPE))
    times = []
    with torch.inference_mode():
        for _ in range(a.warmup):
            model(x)
        start = time.perf_counter()
        while len(times) < a.rounds or time.perf_counter() - start < a.time:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "model": mod.MODEL_NAME,
        "engine": "pytorch %s" % torch.__version__,
        "batch": a.batch,
        "threads": torch.get_num_threads(),
        "rounds": len(times),
        "median_ms": median * 1e3,
        "min_ms": times[0] * 1e3,
        "images_per_s": a.batch / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
