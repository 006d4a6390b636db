#!/usr/bin/env python3
"""Time of one training step in PyTorch 1.13, for bench/compare_torch.sh (the peer of `kiln bench --train`).

usage: torch_step_time.py --classifier MODEL.onnx --optimizer adam|momentum|sgd [--lr 1e-3] [--momentum 0.9]
                          [--batch 64] [--threads 2] [--steps 20] [--warmup 3]
       torch_step_time.py --generator G.onnx --discriminator D.onnx [--batch 64] [--threads 2] ...

The models are kiln's ONNX exports (`kiln compile SPEC --model NAME -o FILE`) rebuilt in PyTorch by
scripts/onnx_to_torch.py: the same layers and initial weights, float32, torch.nn.Parameter weights. A
classifier step is what a PyTorch user writes: forward on a batch of uniform random images with random labels,
cross-entropy (negative log of the model's softmax output), backward, the optimizer's step (torch.optim.Adam with
Keras's epsilon 1e-7, or SGD with momentum). A GAN step (--generator, --discriminator) is the alternating pair of
bench/torch_gan_time.py: the discriminator on a real and a generated batch, then the generator through the frozen
discriminator, with Adam(2e-4, betas=(0.5, 0.999)). BatchNorm runs on batch statistics and Dropout as torch draws
it. Prints the median step time in ms over --steps timed steps after --warmup untimed ones, as JSON.
"""
import argparse
import json
import os
import sys
import time

if __name__ == "__main__":
    # torch.set_num_threads reaches OpenMP (oneDNN's convolutions) but not Debian's OpenBLAS, a pthreads build
    # with its own pool as large as the machine, which runs torch.mm and the im2col convolutions
    # (slow_conv_transpose2d and its backward): a 1-thread row used both cores there. The count goes to the
    # environment before torch loads OpenBLAS.
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--threads", type=int, default=2)
    _threads = str(_pre.parse_known_args()[0].threads)
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

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


def input_shape(model):
    return [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]


def dropout(x, n, ratio):
    return F.dropout(x, ratio, training=True)


def classifier_step(args):
    M, p, c = load(args.classifier)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(p.values(), lr=args.lr, betas=(args.beta1, args.beta2), eps=args.epsilon)
    else:
        opt = torch.optim.SGD(p.values(), lr=args.lr, momentum=args.momentum if args.optimizer == "momentum" else 0)
    x = torch.rand([args.batch] + input_shape(M))
    probs0 = run(M, p, c, x, dropout)[0]
    y = torch.randint(0, probs0.shape[1], (args.batch,))

    def step():
        opt.zero_grad()
        probs = run(M, p, c, x, dropout)[0]
        loss = F.nll_loss(torch.log(probs.clamp_min(1e-30)), y)
        loss.backward()
        opt.step()
    return step


def gan_step(args):
    G, pg, cg = load(args.generator)
    D, pd, cd = load(args.discriminator)
    opt_g = torch.optim.Adam(pg.values(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(pd.values(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    zdim = input_shape(G)
    real = torch.rand([args.batch] + input_shape(D)) * 2 - 1

    def step():
        z = torch.randn([args.batch] + zdim)
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
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classifier")
    ap.add_argument("--optimizer", default="adam", choices=["adam", "momentum", "sgd"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--generator")
    ap.add_argument("--discriminator")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    if not args.classifier and not (args.generator and args.discriminator):
        ap.error("give --classifier MODEL.onnx, or --generator and --discriminator")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    step = classifier_step(args) if args.classifier else gan_step(args)
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
