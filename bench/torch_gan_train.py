#!/usr/bin/env python3
"""Train a kiln GAN spec's two models in PyTorch 1.13 with the spec's recipe: the peer for `kiln train` on a GAN.

usage: torch_gan_train.py --generator G.onnx --discriminator D.onnx --data DIR -o TRAINED_G.onnx
                          [--epochs 10] [--batch 64] [--lr 2e-4] [--beta1 0.5] [--beta2 0.999] [--epsilon 1e-7]
                          [--ema 0.999] [--threads 1] [--seed 0] [--limit N] [--noise 100]

G.onnx and D.onnx are the untrained models as `kiln compile SPEC --model NAME --emit onnx -o FILE` writes them:
their nodes give the networks (scripts/onnx_to_torch.py) and their initializers kiln's seeded initial weights, so
both trainers start from the same point. DIR holds MNIST-style IDX files; the images are scaled to [-1, 1] as
models/dcgan.kiln's dataset says. Each batch runs the train block of models/dcgan.kiln and models/mlp_gan.kiln as
`kiln train` does (scripts/torch_gan_step.py checks one such batch against kiln's to 1e-4):
  fake = G(noise), noise ~ N(0, 1), BatchNorm on the batch's statistics;
  discriminator step: BCE(D(images), 1) + BCE(D(fake.detach()), 0), Keras's Adam on D's weights;
  generator step: BCE(D(fake), 1) through the updated D, frozen, Keras's Adam (its own state) on G's weights;
with Dropout as torch draws it. BatchNorm's moving statistics follow Keras (momentum from the ONNX node, the biased
batch variance), and with --ema D every generator variable (weights and moving statistics) has the moving average
kiln's --ema keeps (docs/spec-language.md: d = min(D, (1 + n) / (10 + n)) after n updates). -o writes G.onnx with
the trained (averaged, with --ema) weights and statistics in its initializers, for scripts/gan_quality.sh.
Prints one line per epoch: wall time, the median step time (both steps), the mean of each step's loss.
"""
import argparse
import gzip
import math
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np

if __name__ == "__main__":
    # Debian's OpenBLAS (torch.mm, the im2col convolutions) has its own pool as large as the machine: the thread
    # count goes to the environment before torch loads it (as bench/torch_step_time.py does)
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--threads", type=int, default=1)
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(_pre.parse_known_args()[0].threads)

import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from onnx_to_torch import run  # noqa: E402


def idx_images(d, limit):
    path = os.path.join(d, "train-images-idx3-ubyte")
    opener, path = (gzip.open, path + ".gz") if os.path.exists(path + ".gz") else (open, path)
    with opener(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    x = np.frombuffer(data[4 + 4 * nd:], dtype=np.uint8).reshape(dims).astype(np.float32)[:, None]
    x = x / 255.0 * 2.0 - 1.0
    return torch.from_numpy(np.ascontiguousarray(x[:limit] if limit else x))


class Model:
    """One ONNX model's weights (trained), BatchNorm moving statistics and other constants."""

    def __init__(self, path):
        self.onnx = onnx.load(path)
        trained, self.stats = set(), {}
        for n in self.onnx.graph.node:
            if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
                trained.update(x for x in n.input[1:] if x)
            elif n.op_type == "BatchNormalization":
                trained.update(n.input[1:3])
                self.stats[n.input[3]] = self.stats[n.input[4]] = 1.0 - attr(n, "momentum", 0.9)
        self.params, self.consts = {}, {}
        for init in self.onnx.graph.initializer:
            t = torch.from_numpy(onnx.numpy_helper.to_array(init).copy())
            if init.name in trained:
                self.params[init.name] = t.requires_grad_(True)
            else:
                self.consts[init.name] = t
        self.m = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.t = 0

    def __call__(self, x, training=True):
        return run(self.onnx, self.params, self.consts, x,
                   lambda y, n, ratio: F.dropout(y, ratio, training=training), training)[0]

    def adam(self, a):
        """Keras's Adam: w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""
        self.t += 1
        alpha = a.lr * math.sqrt(1.0 - a.beta2 ** self.t) / (1.0 - a.beta1 ** self.t)
        with torch.no_grad():
            for k, p in self.params.items():
                g = p.grad
                self.m[k].mul_(a.beta1).add_(g, alpha=1.0 - a.beta1)
                self.v[k].mul_(a.beta2).addcmul_(g, g, value=1.0 - a.beta2)
                p.sub_(alpha * self.m[k] / (self.v[k].sqrt() + a.epsilon))
                p.grad = None


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--discriminator", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--noise", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    G, D = Model(a.generator), Model(a.discriminator)

    # BatchNorm's moving statistics as Keras (and kiln) track them: the biased batch variance
    torch_batch_norm = F.batch_norm

    def batch_norm(x, rmean, rvar, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
        if not training:
            return torch_batch_norm(x, rmean, rvar, weight, bias, False, momentum, eps)
        dims = [d for d in range(x.dim()) if d != 1]
        with torch.no_grad():
            rmean.mul_(1.0 - momentum).add_(x.mean(dims), alpha=momentum)
            rvar.mul_(1.0 - momentum).add_(x.var(dims, unbiased=False), alpha=momentum)
        return torch_batch_norm(x, None, None, weight, bias, True, momentum, eps)

    F.batch_norm = batch_norm
    averaged = {k: t.detach().clone() for k, t in list(G.params.items()) + [(s, G.consts[s]) for s in G.stats]}
    updates = 0
    x = idx_images(a.data, a.limit)
    rng = np.random.default_rng(a.seed)
    print(f"torch {torch.__version__}, {a.threads} threads, {len(x)} images, batch {a.batch}, {a.epochs} epochs",
          flush=True)
    for e in range(a.epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        t0 = time.perf_counter()
        steps, d_losses, g_losses = [], [], []
        for at in range(0, len(x) - a.batch + 1, a.batch):
            s0 = time.perf_counter()
            images = x[order[at:at + a.batch]]
            fake = G(torch.randn(a.batch, a.noise))
            loss_d = F.binary_cross_entropy(D(images), torch.ones(a.batch, 1)) + \
                F.binary_cross_entropy(D(fake.detach()), torch.zeros(a.batch, 1))
            loss_d.backward()
            D.adam(a)
            for p in D.params.values():
                p.requires_grad_(False)
            loss_g = F.binary_cross_entropy(D(fake), torch.ones(a.batch, 1))
            loss_g.backward()
            for p in D.params.values():
                p.requires_grad_(True)
                p.grad = None
            G.adam(a)
            if a.ema > 0:
                d = min(a.ema, (1.0 + updates) / (10.0 + updates))
                with torch.no_grad():
                    for k, avg in averaged.items():
                        live = G.params[k] if k in G.params else G.consts[k]
                        avg.mul_(d).add_(live.detach(), alpha=1.0 - d)
                updates += 1
            steps.append(time.perf_counter() - s0)
            d_losses.append(loss_d.item())
            g_losses.append(loss_g.item())
        print(f"epoch {e + 1}/{a.epochs}: {time.perf_counter() - t0:.1f} s, median step "
              f"{statistics.median(steps) * 1e3:.1f} ms, d_loss {statistics.mean(d_losses):.4f}, "
              f"g_loss {statistics.mean(g_losses):.4f}", flush=True)
    final = averaged if a.ema > 0 else {k: t.detach() for k, t in list(G.params.items()) +
                                        [(s, G.consts[s]) for s in G.stats]}
    for init in G.onnx.graph.initializer:
        if init.name in final:
            init.CopyFrom(onnx.numpy_helper.from_array(final[init.name].numpy().astype(np.float32), init.name))
    onnx.save(G.onnx, a.output)
    print(f"wrote {a.output}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
