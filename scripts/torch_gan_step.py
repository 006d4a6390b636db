#!/usr/bin/env python3
"""One alternating GAN step of kiln (discriminator step, then generator step) recomputed in PyTorch.

usage: torch_gan_step.py --generator G.onnx --discriminator D.onnx --dump DIR
                         [--lr 2e-4] [--beta1 0.5] [--beta2 0.999] [--epsilon 1e-7] [--tol 1e-4]

G.onnx and D.onnx are the two models as `kiln compile SPEC --model NAME --emit onnx` writes them (their
structure); DIR is what `kiln train SPEC --dump-step DIR` wrote for a train block of two steps (as
models/mlp_gan.kiln and models/dcgan.kiln have): the batch, the noise, every weight before and after the
batch, each step's gradients ("step0." the discriminator's, "step1." the generator's) and Dropout masks.
In float64, from kiln's initial weights, the script computes
  step 0: loss = BCE(D(images), 1) + BCE(D(G(noise)), 0), the discriminator's gradients and its Adam update
          (the generator is frozen: no gradient, weights unchanged);
  step 1: loss = BCE(D'(G(noise)), 1) with the updated discriminator D' frozen, the generator's gradients
          and its Adam update (each step has its own optimizer state; Adam's t is 1 in both),
with BatchNorm on batch statistics and Dropout with kiln's masks, and compares, per tensor, relative to the
tensor's largest reference magnitude: both losses, every gradient, every weight after the batch. It checks
that the generator's weights did not move in step 0 by construction of the comparison (its update comes
from step 1's gradient only). Prints one line per tensor and exits 1 when any exceeds --tol.
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

    def compare(what, got, want):
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) if want.size else 0.0
        rel = diff / scale if scale > 0 else diff
        worst[0] = max(worst[0], rel)
        ok = rel <= args.tol
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

    def bce(p, target):
        return F.binary_cross_entropy(p, torch.full_like(p, target))

    # step 0: the discriminator learns real -> 1, generated -> 0 (the generator frozen)
    for t in pd.values():
        t.requires_grad_(True)
    fake = run(G, {k: v.detach() for k, v in pg.items()}, cg, noise, dropout_of(0, gn, 1))[0]
    real_p = run(D, pd, cd, images, dropout_of(0, dn, 1))[0]
    fake_p = run(D, pd, cd, fake, dropout_of(0, dn, 2))[0]
    loss_d = bce(real_p, 1.0) + bce(fake_p, 0.0)
    loss_d.backward()
    compare("discriminator step: loss", npy(dump, "step0/loss").reshape(1), np.array([loss_d.item()]))
    new_d = {}
    for name, t in pd.items():
        key = f"{dn}/{name}"
        g = t.grad.detach().numpy()
        compare(f"gradient of {key}", npy(dump, f"step0/{key}:grad"), g)
        new_d[name] = torch.from_numpy(adam(t.detach().numpy(), g, key))
        compare(f"after the batch: {key}", npy(dump, key + ".after"), new_d[name].numpy())
    # step 1: the generator learns to make the updated, frozen discriminator say 1
    for t in pg.values():
        t.requires_grad_(True)
    fake = run(G, pg, cg, noise, dropout_of(1, gn, 1))[0]
    loss_g = bce(run(D, new_d, cd, fake, dropout_of(1, dn, 1))[0], 1.0)
    loss_g.backward()
    compare("generator step: loss", npy(dump, "step1/loss").reshape(1), np.array([loss_g.item()]))
    for name, t in pg.items():
        key = f"{gn}/{name}"
        g = t.grad.detach().numpy()
        compare(f"gradient of {key}", npy(dump, f"step1/{key}:grad"), g)
        compare(f"after the batch: {key}", npy(dump, key + ".after"), adam(t.detach().numpy(), g, key))
    print(f"{len(pd)} discriminator and {len(pg)} generator weights; worst relative difference {worst[0]:.3g} "
          f"(bound {args.tol:g})")
    if failed:
        print("exceeding the bound: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
