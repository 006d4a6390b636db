#!/usr/bin/env python3
"""One training step of a kiln model recomputed in PyTorch, compared with kiln's.

usage: torch_train_step.py --onnx MODEL.onnx --dump DIR --model NAME
                           --optimizer adam|momentum|sgd|rmsprop [--lr LR] [--beta1 B1]
                           [--beta2 B2] [--epsilon EPS] [--momentum M] [--nesterov] [--rho R]
                           [--weight-decay WD] [--tol 1e-4]

MODEL.onnx is the model as `kiln compile SPEC -o MODEL.onnx` writes it (the
structure: its nodes and attributes). DIR is what `kiln train SPEC
--dump-step DIR` wrote: the batch, every weight before and after the step,
its gradient, the Dropout masks and the loss. The script builds the same
network in PyTorch 1.13, in float64, from the ONNX nodes (Conv, Gemm, MatMul, pools,
activations, BatchNormalization in training mode, Dropout with kiln's masks,
Flatten, Reshape, Add, Concat, Softmax) with kiln's initial weights,
computes the loss (sparse categorical cross-entropy on the logits when the
model ends in Softmax, as kiln's fused form), its gradients by autograd, and
the optimizer's update as docs/spec-language.md defines it (Keras's SGD,
momentum, Adam and RMSprop, decoupled weight decay) in float64. (PyTorch's
own Adam and RMSprop add eps outside the square root, Keras's RMSprop inside:
sqrt(v + eps); kiln follows Keras, so the update is Keras's formula.) Then it compares, per
tensor, with a bound relative to the tensor's largest reference magnitude:
the loss, every gradient, every weight after the step (from PyTorch's
gradient), and every update (after - before) recomputed from kiln's own
gradient (the optimizer's arithmetic alone: Adam's first step divides by
|g| + eps, so a 1e-8 difference in a tiny gradient moves its update by 1e-4
of the learning rate, which the weights-after bound absorbs).
Prints one line per tensor and exits 1 when any exceeds --tol.
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_to_torch import run  # noqa: E402


def npy(dump, name):
    return np.load(os.path.join(dump, name.replace("/", ".").replace(":", ".") + ".npy"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--optimizer", required=True, choices=["adam", "momentum", "sgd", "rmsprop"])
    ap.add_argument("--rho", type=float, default=0.9)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer in ("adam", "rmsprop") else 1e-2)
    torch.set_num_threads(1)
    model = onnx.load(args.onnx)
    dump, pre = args.dump, args.model + "/"
    # the reference runs in float64: kiln's float32 step is compared with the exact one, not with another
    # float32 rounding (summation orders differ, and Adam's first step magnifies differences in tiny gradients)
    images = torch.from_numpy(npy(dump, "images")).double()
    labels = torch.from_numpy(npy(dump, "labels"))
    params, consts, trained = {}, {}, []
    for init in model.graph.initializer:
        key = pre + init.name
        path = os.path.join(dump, key.replace("/", ".") + ".before.npy")
        if os.path.exists(path):
            t = torch.from_numpy(np.load(path)).double()
            if os.path.exists(os.path.join(dump, key.replace("/", ".") + ".grad.npy")):
                t.requires_grad_(True)
                trained.append(init.name)
            params[init.name] = t
        else:
            a = onnx.numpy_helper.to_array(init).copy()
            consts[init.name] = torch.from_numpy(a.astype(np.float64) if a.dtype == np.float32 else a)
    masks = {}
    for n in model.graph.node:
        if n.op_type == "Dropout":
            masks[n.output[0]] = torch.from_numpy(npy(dump, f"{args.model}@1/{n.output[0]}/mask").astype(np.float64))
    out, logits = run(model, params, consts, images, lambda x, n, ratio: x * masks[n.output[0]] / (1.0 - ratio))
    loss = F.cross_entropy(logits, labels) if logits is not None else F.nll_loss(torch.log(out), labels)
    loss.backward()
    worst, failed = 0.0, []

    def compare(what, got, want):
        nonlocal worst
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        rel = diff / scale if scale > 0 else diff
        worst = max(worst, rel)
        ok = rel <= args.tol
        print(f"{'ok  ' if ok else 'FAIL'} {what:48s} max|kiln - torch| {diff:.3g}, relative {rel:.3g} "
              f"(max|torch| {scale:.3g})")
        if not ok:
            failed.append(what)

    compare("loss", np.asarray(npy(dump, "loss"), dtype=np.float64).reshape(1),
            np.array([loss.item()], dtype=np.float64))
    step = 1  # the dump is the first step: Adam's t = 1
    def update(w, g, key):
        """The optimizer's new weight (float64) from w and gradient g, as docs/spec-language.md defines it."""
        wd = w - lr * args.weight_decay * w
        if args.optimizer == "sgd":
            return wd - lr * g
        if args.optimizer == "momentum":
            v = args.momentum * npy(dump, key + "/velocity.before").astype(np.float64) - lr * g
            return wd + args.momentum * v - lr * g if args.nesterov else wd + v
        if args.optimizer == "rmsprop":  # Keras: v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps)
            v = npy(dump, key + "/mean_square.before").astype(np.float64)
            v = args.rho * v + (1.0 - args.rho) * g * g
            return wd - lr * g / np.sqrt(v + args.epsilon)
        m = npy(dump, key + "/m.before").astype(np.float64)
        v = npy(dump, key + "/v.before").astype(np.float64)
        m = m + (g - m) * (1.0 - args.beta1)
        v = v + (g * g - v) * (1.0 - args.beta2)
        alpha = lr * math.sqrt(1.0 - args.beta2 ** step) / (1.0 - args.beta1 ** step)
        return wd - m * alpha / (np.sqrt(v) + args.epsilon)

    step = 1  # the dump is the first step: Adam's t = 1
    for name in trained:
        key = pre + name
        g = params[name].grad.detach().double().numpy()
        compare(f"gradient of {key}", npy(dump, key + ".grad"), g)
        w = npy(dump, key + ".before").astype(np.float64)
        after = npy(dump, key + ".after")
        # the weights after the step, from PyTorch's gradient (the bound, relative to the weights)
        compare(f"weights after the step: {key}", after, update(w, g, key))
        # the update itself from kiln's own gradient: the optimizer's arithmetic alone, to float precision
        compare(f"update from kiln's gradient: {key}", after.astype(np.float64) - w,
                update(w, npy(dump, key + ".grad").astype(np.float64), key) - w)
    print(f"{len(trained)} weights; worst relative difference {worst:.3g} (bound {args.tol:g})")
    if failed:
        print("exceeding the bound: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
