#!/usr/bin/env python3
"""One alternating GAN step of kiln (discriminator step, then generator step) recomputed in PyTorch.

usage: torch_gan_step.py --generator G.onnx --discriminator D.onnx --dump DIR
                         [--lr 2e-4] [--beta1 0.5] [--beta2 0.999] [--epsilon 1e-7] [--tol 1e-4]

G.onnx and D.onnx are the two models as `kiln compile SPEC --model NAME --emit onnx` writes them (their
structure); DIR is what `kiln train SPEC --dump-step DIR` wrote for a train block of two steps (as
models/mlp_gan.kiln and models/dcgan.kiln have): the batch, the noise, every weight before and after the
batch, each step's gradients ("step0." the discriminator's, "step1." the generator's) and Dropout masks.
In float64, from kiln's initial weights, the script computes, as PyTorch's DCGAN loop does,
  fake = G(noise), once for the batch (BatchNorm in G on the batch's statistics, its moving statistics
          updated once);
  step 0: loss = BCE(D(images), 1) + BCE(D(fake.detach()), 0), the discriminator's gradients and its Adam
          update (the generator is frozen: no gradient, weights unchanged);
  step 1: loss = BCE(D'(fake), 1) with the updated discriminator D' frozen, the generator's gradients
          and its Adam update (each step has its own optimizer state; Adam's t is 1 in both),
with BatchNorm on batch statistics and Dropout with kiln's masks, and compares, per tensor, relative to the
tensor's largest reference magnitude: both losses, every gradient, every weight after the batch (beyond one
float32 rounding of the weight; a tensor that starts at 0, a bias, has only Adam's first update, about lr
everywhere and divided by |g| + eps, so float32 gradients near eps move it by a few 1e-4 of lr: those are
held to 10 x tol of lr), and every update recomputed from kiln's own gradient (the optimizer's arithmetic). The generator's
weights after the batch come from step 1's gradient alone, so a step-0 change to them would fail. BatchNorm's
moving statistics after the batch are compared too: one update per application of the layer in training mode
(G's once per batch), tracking the biased batch variance with Keras's momentum as kiln does (PyTorch's own
buffers track the unbiased one). Prints one line per tensor and exits 1 when any exceeds --tol.
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


def load_model(path, name, dump):
    """The ONNX model, its weights (kiln's, before the batch) and its other constants."""
    model = onnx.load(path)
    params, consts = {}, {}
    for init in model.graph.initializer:
        file = os.path.join(dump, (name + "/" + init.name).replace("/", ".") + ".before.npy")
        if os.path.exists(file):
            params[init.name] = torch.from_numpy(np.load(file)).double()
        else:
            a = onnx.numpy_helper.to_array(init).copy()
            consts[init.name] = torch.from_numpy(a.astype(np.float64) if a.dtype == np.float32 else a)
    return model, params, consts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--discriminator", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--gname", default="generator")
    ap.add_argument("--dname", default="discriminator")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    dump, gn, dn = args.dump, args.gname, args.dname
    G, pg, cg = load_model(args.generator, gn, dump)
    D, pd, cd = load_model(args.discriminator, dn, dump)
    images = torch.from_numpy(npy(dump, "images")).double()
    noise = torch.from_numpy(npy(dump, "noise")).double()
    worst, failed = [0.0], []

    def compare(what, got, want, floor=0.0, slack=0.0, tol=None):
        tol = args.tol if tol is None else tol
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, floor)
        diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) if want.size else 0.0
        rel = max(diff - slack, 0.0) / scale if scale > 0 else diff
        worst[0] = max(worst[0], rel / tol * args.tol)
        ok = rel <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {what:56s} max|kiln - torch| {diff:.3g}, relative {rel:.3g} "
              f"(max|torch| {scale:.3g})")
        if not ok:
            failed.append(what)

    def dropout_of(step, model, app):
        def apply(x, n, ratio):
            mask = npy(dump, f"step{step}/{model}@{app}/{n.output[0]}/mask").astype(np.float64)
            return x * torch.from_numpy(mask) / (1.0 - ratio)
        return apply

    def adam(w, g, key):
        m = npy(dump, key + "/m.before").astype(np.float64)
        v = npy(dump, key + "/v.before").astype(np.float64)
        m = m + (g - m) * (1.0 - args.beta1)
        v = v + (g * g - v) * (1.0 - args.beta2)
        alpha = args.lr * math.sqrt(1.0 - args.beta2) / (1.0 - args.beta1)  # t = 1
        return w - m * alpha / (np.sqrt(v) + args.epsilon)

    def after_check(key, t, g, want):
        """The weights after the batch: from PyTorch's gradient, relative to the weights or to the learning rate
        (Adam's first update is about lr for every element, and divides by |g| + eps: a bias that starts at 0
        has only the update, which a float32 gradient near eps moves by a few 1e-4 of lr); and from kiln's own
        gradient, the optimizer's arithmetic alone, to float precision."""
        after = npy(dump, key + ".after")
        w = t.detach().numpy()
        ulp = float(np.max(np.abs(w))) * 2.0 ** -23 if w.size else 0.0  # one float32 rounding of the weight
        if ulp > 0:
            compare(f"after the batch: {key}", after, want, slack=ulp)
        else:  # starts at 0 (a bias): only the update, which Adam's |g| + eps amplifies for tiny gradients
            compare(f"after the batch (update only): {key}", after, want, floor=args.lr, tol=10 * args.tol)
        compare(f"update from kiln's gradient: {key}", after.astype(np.float64) - w,
                adam(w, npy(dump, f"step{0 if key.startswith(dn + '/') else 1}/{key}:grad").astype(np.float64),
                     key) - w, slack=ulp)

    def bce(p, target):
        return F.binary_cross_entropy(p, torch.full_like(p, target))

    def trained(params, step, model):
        """The weights kiln trained in that step (a gradient was dumped); BatchNorm's moving statistics are not."""
        return [n for n in params if os.path.exists(os.path.join(
            dump, f"step{step}/{model}/{n}:grad".replace("/", ".").replace(":", ".") + ".npy"))]

    # BatchNorm's moving statistics as kiln tracks them (Keras): per application in training mode,
    # moving = momentum * moving + (1 - momentum) * batch statistic, the variance biased; keyed by the buffer
    moving = {}
    torch_batch_norm = F.batch_norm

    def batch_norm(x, rmean, rvar, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
        if not training:
            return torch_batch_norm(x, rmean, rvar, weight, bias, training, momentum, eps)
        dims = [d for d in range(x.dim()) if d != 1]
        mean, var = x.detach().mean(dims), x.detach().var(dims, unbiased=False)
        for buf, stat in ((rmean, mean), (rvar, var)):
            old = moving.get(buf.data_ptr(), buf.detach().clone())
            moving[buf.data_ptr()] = (1.0 - momentum) * old + momentum * stat
        return torch_batch_norm(x, None, None, weight, bias, True, momentum, eps)

    F.batch_norm = batch_norm
    # the generated batch, once: the discriminator step reads it detached, the generator step trains through it
    for n in trained(pg, 1, gn):
        pg[n].requires_grad_(True)
    fake = run(G, pg, cg, noise, dropout_of(1, gn, 1))[0]
    # step 0: the discriminator learns real -> 1, generated -> 0 (the generator frozen)
    for n in trained(pd, 0, dn):
        pd[n].requires_grad_(True)
    real_p = run(D, pd, cd, images, dropout_of(0, dn, 1))[0]
    fake_p = run(D, pd, cd, fake.detach(), dropout_of(0, dn, 2))[0]
    loss_d = bce(real_p, 1.0) + bce(fake_p, 0.0)
    loss_d.backward()
    compare("discriminator step: loss", npy(dump, "step0/loss").reshape(1), np.array([loss_d.item()]))
    new_d = {k: v.detach() for k, v in pd.items()}
    for name in trained(pd, 0, dn):
        t = pd[name]
        key = f"{dn}/{name}"
        g = t.grad.detach().numpy()
        compare(f"gradient of {key}", npy(dump, f"step0/{key}:grad"), g)
        new_d[name] = torch.from_numpy(adam(t.detach().numpy(), g, key))
        after_check(key, t, g, new_d[name].numpy())
    # step 1: the generator learns to make the updated, frozen discriminator say 1 (on the same fake batch)
    loss_g = bce(run(D, new_d, cd, fake, dropout_of(1, dn, 1))[0], 1.0)
    loss_g.backward()
    compare("generator step: loss", npy(dump, "step1/loss").reshape(1), np.array([loss_g.item()]))
    for name in trained(pg, 1, gn):
        t = pg[name]
        key = f"{gn}/{name}"
        g = t.grad.detach().numpy()
        compare(f"gradient of {key}", npy(dump, f"step1/{key}:grad"), g)
        after_check(key, t, g, adam(t.detach().numpy(), g, key))
    stats = 0
    for model, params in ((gn, pg), (dn, pd)):
        for name, t in params.items():
            if t.data_ptr() in moving:
                stats += 1
                compare(f"moving statistic after the batch: {model}/{name}", npy(dump, f"{model}/{name}.after"),
                        moving[t.data_ptr()].numpy())
    print(f"{stats} BatchNorm moving statistics compared")
    print(f"{len(trained(pd, 0, dn))} discriminator and {len(trained(pg, 1, gn))} generator weights; worst relative difference {worst[0]:.3g} "
          f"(bound {args.tol:g})")
    if failed:
        print("exceeding the bound: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
