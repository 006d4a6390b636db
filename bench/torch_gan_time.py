#!/usr/bin/env python3
"""Time of one GAN training step (discriminator step + generator step) in PyTorch 1.13, for bench/gan_vs_torch.sh.

usage: torch_gan_time.py --generator G.onnx --discriminator D.onnx [--batch 64] [--threads 2] [--steps 20]
                         [--warmup 3]

The two models are rebuilt in PyTorch from kiln's ONNX exports (scripts/onnx_to_torch.py: the same layers, the
same initial weights), in float32 with torch.nn.Parameter weights and torch.optim.Adam(lr=2e-4, betas=(0.5,
0.999), eps=1e-7), as a PyTorch user would write the alternating step: D on a real batch (uniform noise in
[-1, 1] stands in for images) and on G(z), then G through the frozen D. Prints the median step time in ms over
--steps timed steps after --warmup untimed ones, as JSON.
"""
import argparse
import json
import os
import sys
import time

import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from onnx_to_torch import run  # noqa: E402


def load(path):
    model = onnx.load(path)
    params, consts = {}, {}
    for init in model.graph.initializer:
        a = torch.from_numpy(onnx.numpy_helper.to_array(init).copy())
        if a.dtype == torch.float32 and a.dim() >= 1 and "moving" not in init.name:
            params[init.name] = torch.nn.Parameter(a)
        else:
            consts[init.name] = a
    return model, params, consts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--discriminator", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G, pg, cg = load(args.generator)
    D, pd, cd = load(args.discriminator)
    opt_g = torch.optim.Adam(pg.values(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(pd.values(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    zdim = G.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    real = torch.rand(args.batch, 1, 28, 28) * 2 - 1

    def dropout(x, n, ratio):
        return F.dropout(x, ratio, training=True)

    def step():
        z = torch.randn(args.batch, zdim)
        fake = run(G, pg, cg, z, dropout)[0]
        opt_d.zero_grad()
        pr = run(D, pd, cd, real, dropout)[0]
        pf = run(D, pd, cd, fake.detach(), dropout)[0]
        loss_d = F.binary_cross_entropy(pr, torch.ones_like(pr)) + F.binary_cross_entropy(pf, torch.zeros_like(pf))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        pg_ = run(D, pd, cd, fake, dropout)[0]
        loss_g = F.binary_cross_entropy(pg_, torch.ones_like(pg_))
        loss_g.backward()
        opt_g.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print(json.dumps({"median_ms": median, "min_ms": times[0], "max_ms": times[-1], "steps": n,
                      "threads": args.threads, "batch": args.batch, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
