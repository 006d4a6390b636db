#!/usr/bin/python3
"""Export torchvision classifiers to ONNX as fixtures for kiln's model tests.

For each model (resnet18, mobilenet_v2, squeezenet1_1, densenet121,
googlenet, shufflenet_v2_x1_0, efficientnet_b0, alexnet; and the vision
transformers, ConvNeXt and segmentation model of EXTRA_MODELS: vit_b_16_l2,
swin_t, convnext_tiny, lraspp_mobilenet_v3_large, see below) this writes, into
the cache directory (default build/models):

  <name>.onnx           random weights (weights=None, torch.manual_seed per
                        model), eval mode, opset 13, input "input"
                        [batch, 3, H, W] with a dynamic batch axis, output
                        "probs" [batch, 1000]. A Softmax over dim 1 is
                        appended to the torchvision model, so "probs" holds
                        probabilities, not logits: the model tests compare
                        probabilities (max abs difference) and the top-1 class.
  <name>_b1.npy         a fixed input of batch 1 (seeded standard normal)
  <name>_b4.npy         a fixed input of batch 4
  <name>_b{1,4}_torch.npy  PyTorch's own output for those inputs (a sanity
                        check of the ONNX Runtime reference, not used by ctest)
  manifest.txt          one line per model: "name input_name output_name H W KIND"
                        (KIND: classifier, or segmentation: "probs" is then
                        [batch, 21, H, W], per-pixel class probabilities,
                        compared without the top-1 check)

EXTRA_MODELS, from torchvision 0.14's own classes, at opset 17:
  vit_b_16_l2   torchvision's VisionTransformer with ViT-B/16's patch size,
                width, heads and MLP (768, 12, 3072) but 2 of its 12 encoder
                layers: the same ops and shapes per layer, 63 MB of weights
                instead of 330 MB, so the test stays quick (the full
                vit_b_16 imports and matches the same way, tried by hand).
                torchvision zero-initialises the head, so it gets a seeded
                normal init first.
  swin_t        Swin-T as torchvision builds it (shifted windows: the
                exported mask is ScatterND on constants).
  convnext_tiny ConvNeXt-Tiny (7x7 depthwise convolutions, LayerNorm over
                channels-last tensors, Erf GELU), with a layer scale of 0.5
                instead of 1e-6 so its blocks' branches count in the output.
  lraspp_mobilenet_v3_large  segmentation (21 classes, Resize); a Softmax
                over the classes is appended to the "out" map.

Random weights need care to make a meaningful test. At torchvision's
default initialisation (and BatchNorm running statistics of 0/1) the signal
fades or the per-channel mean swamps it, so every input gets nearly the same,
nearly flat output (max probability 0.001 with top-1/top-2 margins of 0) and
the top-1 class would be decided by rounding noise. So after the seeded
default initialisation, the weights get a data-dependent re-initialisation
(in the spirit of LSUV / weight-norm init) on a seeded calibration batch of
8 standard-normal images: walking the network in forward order, every Conv2d
and Linear output is centred per channel (through its bias, when it has one)
and scaled to unit standard deviation (through its weight), and every
BatchNorm2d gets the per-channel mean and the layer's variance of its input
as running statistics. The last layer is finally scaled so the logits have a
standard deviation of LOGIT_STD (1.5), which gives peaked but not saturated
probabilities (top-1 probability about 0.005-0.65) while keeping float32
rounding (ONNX Runtime vs PyTorch: up to 1.4e-5) well under the 1e-4
tolerance of the tests. The exported graph is
the plain torchvision model plus one Softmax.

Existing files are kept unless --force is given (the export is the slow
part) or this script has changed since they were made (export.stamp holds
the SHA-256 of the script that made them). Usage:
  /usr/bin/python3 scripts/export_classifiers.py [CACHE_DIR] [--only NAME ...] [--force]
Needs: python3-torch, python3-torchvision, python3-numpy, python3-onnx.
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

CLASSIFIERS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "densenet121", "googlenet",
               "shufflenet_v2_x1_0", "efficientnet_b0", "alexnet"]
EXTRA_MODELS = ["vit_b_16_l2", "swin_t", "convnext_tiny", "lraspp_mobilenet_v3_large"]
SEGMENTATION = {"lraspp_mobilenet_v3_large"}
MODELS = CLASSIFIERS + EXTRA_MODELS

# Input side per model (square). 224 unless the export needs otherwise.
INPUT_SIZE = {name: 224 for name in MODELS}

# Standard deviation of the logits after the data-dependent init (see the module doc).
LOGIT_STD = 1.5
SEGMENTATION_LOGIT_STD = 0.5
CALIB_BATCH = 8

SEED = 1234
OPSET = 13
OPSET_EXTRA = 17  # LayerNormalization for the transformers


def opset_of(name):
    return OPSET_EXTRA if name in EXTRA_MODELS else OPSET


def build(name):
    if name == "vit_b_16_l2":
        from torchvision.models.vision_transformer import VisionTransformer
        net = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=12, hidden_dim=768,
                                mlp_dim=3072)
        nn.init.normal_(net.heads.head.weight, std=0.02)  # zero-initialised by torchvision
        return net
    if name == "convnext_tiny":
        # torchvision's layer scale of 1e-6 makes every block's branch vanish next to its skip connection, so the
        # output would not depend on the blocks' ops at all: 0.5 keeps them in the test
        return torchvision.models.convnext_tiny(weights=None, layer_scale=0.5)
    if name in SEGMENTATION:
        return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None)
    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(**kwargs)


@torch.no_grad()
def data_dependent_init(net, calib, heads=None, logit_std=LOGIT_STD):
    """Re-scale a randomly initialised net so activations stay centred and of unit size (module doc)."""
    done = []

    def hook(mod, inputs, out):
        if any(m is mod for m in done):
            return None  # each module is normalised on its first call only
        done.append(mod)
        if isinstance(mod, nn.BatchNorm2d):
            x = inputs[0]
            mean = x.mean(dim=(0, 2, 3))
            var = (x - mean.view(1, -1, 1, 1)).pow(2).mean().clamp_min(1e-6)
            mod.running_mean.copy_(mean)
            mod.running_var.fill_(float(var))
            return F.batch_norm(x, mod.running_mean, mod.running_var, mod.weight, mod.bias, False, 0.0, mod.eps)
        if isinstance(mod, nn.Conv2d):
            dims, shape = (0, 2, 3), (1, -1, 1, 1)
        else:  # Linear: features last ([batch, C], [batch, tokens, C], Swin's [batch, H, W, C])
            dims, shape = tuple(range(out.dim() - 1)), (1,) * (out.dim() - 1) + (-1,)
        if mod.bias is not None:
            mean = out.mean(dim=dims)
            mod.bias.sub_(mean)
            out = out - mean.view(shape)
        std = float(out.std().clamp_min(1e-6))
        mod.weight.div_(std)
        if mod.bias is not None:
            mod.bias.div_(std)
        return out / std

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    net.eval()
    net(calib)
    for h in handles:
        h.remove()
    # The last Conv2d/Linear called produces the logits (through ReLU and
    # average pooling in squeezenet, which are positively homogeneous).
    # `heads`, when given: the layers whose sum is the output, all scaled alike.
    k = logit_std / float(net(calib).std())
    for last in heads or [[m for m in done if isinstance(m, (nn.Conv2d, nn.Linear))][-1]]:
        last.weight.mul_(k)
        if last.bias is not None:
            last.bias.mul_(k)


class Logits(nn.Module):
    """A torchvision segmentation model's "out" map (the classifiers return their logits as they are)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)["out"]


class WithSoftmax(nn.Module):
    """torchvision classifier (or segmentation model) -> softmax(logits, dim=1): over the classes."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def model_seed(name):
    return SEED + MODELS.index(name)


def export_one(name, out_dir, force):
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    side = INPUT_SIZE[name]
    inputs = {b: os.path.join(out_dir, f"{name}_b{b}.npy") for b in (1, 4)}
    if not force and os.path.isfile(onnx_path) and all(os.path.isfile(p) for p in inputs.values()):
        print(f"{name}: cached")
        return
    t0 = time.time()
    torch.manual_seed(model_seed(name))
    net = build(name).eval()
    if name in SEGMENTATION:
        net = Logits(net)
    rng = np.random.default_rng(model_seed(name))
    calib = rng.standard_normal((CALIB_BATCH, 3, side, side), dtype=np.float32)
    if name in SEGMENTATION:
        # LR-ASPP's map is low_classifier(low) + high_classifier(high), both scaled alike; at logit std 0.5, as
        # at 1.5, float32 rounding of this deep MobileNetV3 (logits 8e-5 from float64's) would otherwise move
        # 21-class probabilities by up to 3e-4 between any two runtimes (PyTorch and ONNX Runtime included)
        head = net.net.classifier
        data_dependent_init(net, torch.from_numpy(calib), [head.low_classifier, head.high_classifier],
                            SEGMENTATION_LOGIT_STD)
    else:
        data_dependent_init(net, torch.from_numpy(calib))
    model = WithSoftmax(net).eval()
    data = {b: rng.standard_normal((b, 3, side, side), dtype=np.float32) for b in (1, 4)}
    tmp = onnx_path + ".tmp"
    # ViT's nn.MultiheadAttention takes its fused fast path (aten::_native_multi_head_attention, which the
    # exporter lacks) in eval mode without autograd: trace it with autograd on
    with torch.enable_grad() if name == "vit_b_16_l2" else torch.no_grad():
        torch.onnx.export(model, torch.from_numpy(data[1]), tmp, opset_version=opset_of(name),
                          input_names=["input"], output_names=["probs"],
                          dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}},
                          do_constant_folding=True)
    with torch.no_grad():
        probs = {b: model(torch.from_numpy(data[b])).numpy() for b in (1, 4)}
    onnx.checker.check_model(onnx.load(tmp))
    os.replace(tmp, onnx_path)
    for b, path in inputs.items():
        np.save(os.path.join(out_dir, f"{name}_b{b}_torch.npy"), probs[b])
        np.save(path, data[b])  # the input last: its presence marks a complete export
    if name in SEGMENTATION:
        pix = probs[4].argmax(1)
        print(f"{name}: exported in {time.time() - t0:.1f} s, {os.path.getsize(onnx_path) / 1e6:.1f} MB; "
              f"torch batch-4 classes per image {[len(np.unique(p)) for p in pix]}, "
              f"max prob {float(probs[4].max()):.4f}")
        return
    top = np.sort(probs[4], axis=1)[:, ::-1]
    print(f"{name}: exported in {time.time() - t0:.1f} s, {os.path.getsize(onnx_path) / 1e6:.1f} MB; "
          f"torch batch-4 top-1 {probs[4].argmax(1).tolist()}, "
          f"max prob {[round(float(v), 4) for v in top[:, 0]]}, "
          f"top1-top2 margin {[round(float(v), 4) for v in top[:, 0] - top[:, 1]]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cache_dir", nargs="?", default=os.path.join("build", "models"))
    ap.add_argument("--only", nargs="*", choices=MODELS, help="export only these models")
    ap.add_argument("--force", action="store_true", help="re-export even if cached")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.cache_dir, exist_ok=True)
    names = args.only or MODELS
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(args.cache_dir, "export.stamp")
    try:
        with open(stamp, encoding="utf-8") as f:
            stale = f.read().strip() != digest
    except OSError:
        stale = True
    if stale and not args.force:
        print("export script changed since the cached export (or no stamp): exporting again")
        args.force = True
    if stale:
        # a partial re-export (--only) leaves other models stale: drop the stamp until all are done
        if os.path.exists(stamp):
            os.remove(stamp)
    t0 = time.time()
    for name in names:
        export_one(name, args.cache_dir, args.force)
    manifest = os.path.join(args.cache_dir, "manifest.txt")
    with open(manifest + ".tmp", "w", encoding="utf-8") as f:
        for name in MODELS:
            if os.path.isfile(os.path.join(args.cache_dir, f"{name}.onnx")):
                kind = "segmentation" if name in SEGMENTATION else "classifier"
                f.write(f"{name} input probs {INPUT_SIZE[name]} {INPUT_SIZE[name]} {kind}\n")
    os.replace(manifest + ".tmp", manifest)
    if set(names) == set(MODELS):
        with open(stamp, "w", encoding="utf-8") as f:
            f.write(digest + "\n")
    print(f"export done in {time.time() - t0:.1f} s; wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
