#!/usr/bin/env python3
"""One training step of a kiln model recomputed in PyTorch, compared with kiln's.

usage: torch_train_step.py --onnx MODEL.onnx --dump DIR --model NAME
                           --optimizer adam|momentum|sgd [--lr LR] [--beta1 B1]
                           [--beta2 B2] [--epsilon EPS] [--momentum M] [--nesterov]
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
momentum and Adam, decoupled weight decay) in float64. Then it compares, per
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


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def npy(dump, name):
    return np.load(os.path.join(dump, name.replace("/", ".").replace(":", ".") + ".npy"))


def pads_of(a, nsp):
    p = list(a.get("pads", [0] * (2 * nsp)))
    return p[:nsp], p[nsp:]


def conv(x, w, b, a):
    nsp = w.dim() - 2
    begin, end = pads_of(a, nsp)
    if begin != end:  # asymmetric: pad first (F.pad takes the last axis first)
        pad = []
        for i in reversed(range(nsp)):
            pad += [begin[i], end[i]]
        x = F.pad(x, pad)
        begin = [0] * nsp
    return F.conv2d(x, w, b, stride=a.get("strides", [1] * nsp), padding=begin,
                    dilation=a.get("dilations", [1] * nsp), groups=a.get("group", 1))


def pool(x, a, kind):
    k = a["kernel_shape"]
    nsp = len(k)
    begin, end = pads_of(a, nsp)
    s = a.get("strides", [1] * nsp)
    ceil = bool(a.get("ceil_mode", 0))
    if begin != end:
        pad = []
        for i in reversed(range(nsp)):
            pad += [begin[i], end[i]]
        x = F.pad(x, pad, value=-math.inf if kind == "max" else 0.0)
        begin = [0] * nsp
    if kind == "max":
        return F.max_pool2d(x, k, s, begin, ceil_mode=ceil)
    return F.avg_pool2d(x, k, s, begin, ceil_mode=ceil, count_include_pad=bool(a.get("count_include_pad", 0)))


def run(model, params, consts, images, masks):
    """The model's output (and its logits when it ends in Softmax)."""
    env = {model.graph.input[0].name: images}
    env.update(consts)
    env.update(params)
    logits = None
    drop = 0
    for n in model.graph.node:
        a = attrs(n)
        i = [env[x] if x else None for x in n.input]
        op = n.op_type
        if op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "LeakyRelu":
            y = F.leaky_relu(i[0], a.get("alpha", 0.01))
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "Tanh":
            y = torch.tanh(i[0])
        elif op == "Elu":
            y = F.elu(i[0], a.get("alpha", 1.0))
        elif op == "MaxPool":
            y = pool(i[0], a, "max")
        elif op == "AveragePool":
            y = pool(i[0], a, "avg")
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=tuple(range(2, i[0].dim())), keepdim=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [int(v) for v in i[1]]
            shape = [i[0].shape[k] if v == 0 else v for k, v in enumerate(shape)]
            y = i[0].reshape(shape)
        elif op == "Gemm":
            A = i[0].t() if a.get("transA", 0) else i[0]
            B = i[1].t() if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Concat":
            y = torch.cat(i, dim=a.get("axis", 1))
        elif op == "Softmax":
            logits = i[0]
            y = F.softmax(i[0], dim=a.get("axis", -1))
        elif op == "BatchNormalization":  # training mode: batch statistics
            y = F.batch_norm(i[0], i[3].clone(), i[4].clone(), i[1], i[2], training=True,
                             momentum=1.0 - a.get("momentum", 0.9), eps=a.get("epsilon", 1e-5))
        elif op == "Dropout":
            ratio = float(i[1]) if len(i) > 1 and i[1] is not None else 0.5
            y = i[0] * masks[n.output[0]] / (1.0 - ratio)
            drop += 1
        else:
            raise SystemExit(f"torch_train_step.py: op {op} is not supported here")
        env[n.output[0]] = y
    return env[model.graph.output[0].name], logits


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--optimizer", required=True, choices=["adam", "momentum", "sgd"])
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
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
    out, logits = run(model, params, consts, images, masks)
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
