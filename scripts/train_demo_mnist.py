#!/usr/bin/python3
"""Train kiln's shipped demo model, models/mnist_small.onnx.

A small CNN (conv 8 -> maxpool -> conv 16 -> maxpool -> fc 10, about 9,000
parameters, under 40 kB) is trained with PyTorch on MNIST for a few epochs
from a fixed seed (10 epochs, Adam), evaluated on the test images, and
exported to ONNX:

  input  "image": float32 [batch, 1, 28, 28], pixel values scaled to [0, 1]
                  (raw byte / 255; no mean/std normalisation), white digit on
                  black background as in MNIST;
  output "probs": float32 [batch, 10], softmax probabilities of digits 0-9.

The batch dimension is dynamic; opset 13. The script also writes four test
digits as models/data/digit_<label>.npy (float32, 1x1x28x28) and the same
four as one batch, models/data/digits_batch4.npy (4x1x28x28), with their
labels in models/data/digits_batch4_labels.txt and PyTorch's output
probabilities for that batch in models/data/digits_batch4_probs.npy (float32,
4x10; the reference of the ctest case models.mnist_small_b4).

MNIST is read from the gzipped IDX files (train-images-idx3-ubyte.gz, ...)
in --data (default /work/shared/data/mnist, which on the development
machine holds a subset: 8,000 training and 2,000 test images); nothing is
downloaded. The seed makes the run deterministic on one machine: rerunning
it reproduces models/mnist_small.onnx byte for byte.

Usage: /usr/bin/python3 scripts/train_demo_mnist.py [--data DIR] [--out-dir models]
Needs: python3-torch, python3-numpy, python3-onnx (to check the export).
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240607


def read_idx(path):
    """Read a gzipped IDX file into a numpy array (uint8)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {np.prod(dims)} bytes of data, got {arr.size}")
    return arr.reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N,1,28,28 in [0,1]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class SmallCNN(nn.Module):
    """conv 3x3 (8) -> relu -> maxpool 2 -> conv 3x3 (16) -> relu -> maxpool 2 -> fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()      # exports as one ONNX Flatten node
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(self.flatten(x))  # logits


class WithSoftmax(nn.Module):
    """The exported model: probabilities instead of logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return torch.softmax(self.net(image), dim=1)


def evaluate(net, x, y, batch=1000):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/mnist", help="directory of the MNIST .gz IDX files")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"),
                    help="where mnist_small.onnx and data/ go (default: the repo's models/)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(args.threads)

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    print(f"train {tuple(xtr.shape)}, test {tuple(xte.shape)}")

    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.75)
    gen = torch.Generator().manual_seed(SEED)
    batch = 64
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        total = 0.0
        for i in range(0, xtr.shape[0], batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        sched.step()
        acc = evaluate(net, xte, yte)
        print(f"epoch {epoch + 1}: train loss {total / xtr.shape[0]:.4f}, test accuracy {acc * 100:.2f}% "
              f"({time.time() - t0:.0f} s)")

    acc = evaluate(net, xte, yte)
    nparams = sum(p.numel() for p in net.parameters())
    print(f"final test accuracy: {acc * 100:.2f}% on {xte.shape[0]} images; {nparams} parameters")

    out_dir = os.path.abspath(args.out_dir)
    data_dir = os.path.join(out_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    model = WithSoftmax(net).eval()
    onnx_path = os.path.join(out_dir, "mnist_small.onnx")
    torch.onnx.export(model, xte[:1], onnx_path, opset_version=13,
                      input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes): "
          + " ".join(n.op_type for n in m.graph.node))

    # Four test digits (the first test images with labels 0, 3, 7, 9), one file each and one batch.
    picks = []
    for label in (0, 3, 7, 9):
        i = int((yte == label).nonzero()[0])
        picks.append(i)
        np.save(os.path.join(data_dir, f"digit_{label}.npy"), xte[i:i + 1].numpy().astype(np.float32))
    batch4 = xte[picks].numpy().astype(np.float32)
    np.save(os.path.join(data_dir, "digits_batch4.npy"), batch4)
    with open(os.path.join(data_dir, "digits_batch4_labels.txt"), "w") as f:
        f.write(" ".join(str(int(yte[i])) for i in picks) + "\n")
    with torch.no_grad():
        probs = model(torch.from_numpy(batch4))
    np.save(os.path.join(data_dir, "digits_batch4_probs.npy"), probs.numpy().astype(np.float32))
    print("batch4 labels", [int(yte[i]) for i in picks], "predicted", probs.argmax(1).tolist(),
          "max prob", [round(float(p), 4) for p in probs.max(1).values])
    return 0


if __name__ == "__main__":
    sys.exit(main())
