#!/usr/bin/env python3
"""Train a kiln spec's model in PyTorch 1.13 with the spec's recipe: the peer for `kiln train`.

usage: torch_train.py --onnx MODEL.onnx --data DIR [--epochs 12] [--batch 128] [--lr 1e-3]
                      [--beta1 0.9] [--beta2 0.999] [--epsilon 1e-7] [--threads 2] [--seed 0] [--limit N]
                      [--shift N] [--cosine [--cosine-final F]]

MODEL.onnx is the untrained model as `kiln compile SPEC -o MODEL.onnx` writes it: its nodes give the network
(scripts/onnx_to_torch.py) and its initializers kiln's seeded initial weights, so both start from the same
point. DIR holds MNIST-style IDX files (gzip or plain). The recipe is the spec's: images / 255, shuffled every
epoch, sparse categorical cross-entropy on the logits, Keras's Adam (docs/spec-language.md) in float32,
BatchNorm on batch statistics with its momentum, Dropout as torch draws it; --shift N moves every training image
by a random [-N, N] pixels each way (zeros shifted in: the spec's augment = shift(N)) and --cosine decays the
learning rate as the spec's schedule = cosine(final=F) does, over all steps. Prints one line per epoch: wall
time, the median step time, the training loss and the test accuracy, then the peak RSS.
"""
import argparse
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from onnx_to_torch import run  # noqa: E402


def idx(path):
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data[4 + 4 * nd:], dtype=np.uint8).reshape(dims)


def split(d, prefix, limit):
    x = idx(os.path.join(d, f"{prefix}-images-idx3-ubyte")).astype(np.float32)[:, None] / 255.0
    y = idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def shift_batch(x, n, rng):
    """Each image moved by its own random (dy, dx) in [-n, n]^2, zeros shifted in."""
    if n <= 0:
        return x
    h, w = x.shape[2], x.shape[3]
    padded = F.pad(x, (n, n, n, n))
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(rng.integers(-n, n + 1, size=(len(x), 2))):
        out[i] = padded[i, :, n - dy:n - dy + h, n - dx:n - dx + w]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--cosine", action="store_true")
    ap.add_argument("--cosine-final", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = onnx.load(args.onnx)
    # trained: the float weights of Conv, ConvTranspose, Gemm, MatMul and BatchNormalization's scale and bias
    trained_names = set()
    for n in model.graph.node:
        if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            trained_names.update(x for x in n.input[1:] if x)
        elif n.op_type == "BatchNormalization":
            trained_names.update(n.input[1:3])
    params, consts = {}, {}
    for init in model.graph.initializer:
        a = onnx.numpy_helper.to_array(init).copy()
        t = torch.from_numpy(a)
        if init.name in trained_names:
            params[init.name] = t.requires_grad_(True)
        else:
            consts[init.name] = t
    trained = list(params.values())
    m = [torch.zeros_like(p) for p in trained]
    v = [torch.zeros_like(p) for p in trained]
    xtr, ytr = split(args.data, "train", args.limit)
    xte, yte = split(args.data, "t10k", args.limit)
    rng = np.random.default_rng(args.seed)
    step = 0
    total_steps = args.epochs * ((len(xtr) + args.batch - 1) // args.batch)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(xtr)} training and {len(xte)} test samples")
    for e in range(args.epochs):
        order = torch.from_numpy(rng.permutation(len(xtr)))
        t0 = time.perf_counter()
        steps, total = [], 0.0
        for at in range(0, len(xtr), args.batch):
            s0 = time.perf_counter()
            idxs = order[at:at + args.batch]
            out, logits = run(model, params, consts, shift_batch(xtr[idxs], args.shift, rng),
                              lambda x, n, ratio: F.dropout(x, ratio, training=True))
            loss = F.cross_entropy(logits, ytr[idxs])
            for p in trained:
                p.grad = None
            loss.backward()
            lr = args.lr
            if args.cosine:
                lr *= args.cosine_final + (1 - args.cosine_final) * 0.5 * (1 + np.cos(np.pi * step / total_steps))
            step += 1
            alpha = lr * (1.0 - args.beta2 ** step) ** 0.5 / (1.0 - args.beta1 ** step)
            with torch.no_grad():
                for p, mi, vi in zip(trained, m, v):
                    g = p.grad
                    mi.add_((g - mi) * (1.0 - args.beta1))
                    vi.add_((g * g - vi) * (1.0 - args.beta2))
                    p.sub_(mi * alpha / (vi.sqrt() + args.epsilon))
            total += loss.item() * len(idxs)
            steps.append(time.perf_counter() - s0)
        el = time.perf_counter() - t0
        correct = 0
        with torch.no_grad():
            for at in range(0, len(xte), args.batch):
                # evaluation: BatchNorm on its running statistics, no Dropout (run's training-mode BN would not do)
                out, _ = run(model, params, consts, xte[at:at + args.batch], lambda x, n, ratio: x, training=False)
                correct += int((out.argmax(1) == yte[at:at + args.batch]).sum())
        print(f"epoch {e + 1}/{args.epochs} - {el:.1f} s ({np.median(steps) * 1e3:.1f} ms/step median) - "
              f"loss {total / len(xtr):.4f} - test_accuracy {correct / len(xte):.4f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
