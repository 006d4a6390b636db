#!/usr/bin/python3
"""check_dataset.py KILN SOURCE_DIR OUTDIR - train on an images(dir) dataset (tests/image.cmake).

Writes a folder of pictures, one subfolder per class (Keras's image_dataset_from_directory layout): MNIST test
digits 0, 1 and 2 of data/mnist as 36x36 RGB JPEGs and 20x20 grey PNGs (mixed within each class, plus a text file
kiln must skip), and a spec training a small MLP on 1x28x28 inputs from it.
 1. `kiln train --dump-step` writes the first batch (shuffle=false: the files in order); it must equal the
    pictures decoded by PIL, converted to grey (ITU-R 601), resized by PyTorch's bilinear interpolate to 28x28 and
    divided by 255, with labels 0, 1, 2 by the sorted class names, the last fifth of each class held out.
 2. `kiln train --epochs 10` must reach a test accuracy of at least 0.9 on the held-out pictures.
 3. The same folder split into train/ and test/ subfolders trains too (the test split from test/).
"""
import gzip
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

kiln, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
mnist = os.path.join(src, "data", "mnist")
with gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")) as f:
    digits = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)

names = ["one", "two", "zero"]          # sorted: one=0, two=1, zero=2
digit_of = {"zero": 0, "one": 1, "two": 2}
per_class = 40
data = os.path.join(out, "pictures")
for name in names:
    os.makedirs(os.path.join(data, name))
    idx = np.nonzero(labels == digit_of[name])[0][:per_class]
    for k, i in enumerate(idx):
        im = Image.fromarray(digits[i])
        if k % 2:
            im.resize((36, 36), Image.BILINEAR).convert("RGB").save(os.path.join(data, name, "%03d.jpg" % k),
                                                                   quality=95)
        else:
            im.resize((20, 20), Image.BILINEAR).save(os.path.join(data, name, "%03d.png" % k))
    open(os.path.join(data, name, "notes.txt"), "w").write("not a picture\n")

spec = os.path.join(out, "folder.kiln")
with open(spec, "w") as f:
    f.write("""model digits(seed=5) {
    image = input(shape=(1, 28, 28))
    flatten()
    dense(64, activation=relu)
    probs = dense(3, activation=softmax)
}

train {
    dataset = images("pictures", shuffle=false)
    loss = cross_entropy
    optimizer = adam(learning_rate=0.003)
    batch_size = 16
    metrics = [accuracy]
}
""")


def reference(path):
    px = np.asarray(Image.open(path)).astype(np.float64)
    if px.ndim == 3:
        px = 0.299 * px[:, :, 0] + 0.587 * px[:, :, 1] + 0.114 * px[:, :, 2]
    x = torch.from_numpy(px)[None, None]
    x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return (x[0].numpy() / 255).astype(np.float32)


def run(*args):
    r = subprocess.run([kiln, "train", spec] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: kiln train %s\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


# 1. the first batch, file by file
dump = os.path.join(out, "dump")
run("--dump-step", dump)
images = np.load(os.path.join(dump, "images.npy"))
got_labels = np.load(os.path.join(dump, "labels.npy"))
train_files = []
for c, name in enumerate(names):
    files = sorted(f for f in os.listdir(os.path.join(data, name)) if f.endswith((".png", ".jpg")))
    train_files += [(os.path.join(data, name, f), c) for f in files[:len(files) - round(0.2 * len(files))]]
assert images.shape == (16, 1, 28, 28), images.shape
for i in range(16):
    path, c = train_files[i]
    err = np.abs(images[i] - reference(path)).max()
    if err > 1e-5 or got_labels[i] != c:
        raise SystemExit("FAIL: sample %d (%s): error %g, label %d (expected %d)" % (i, path, err, got_labels[i], c))

# 2. it learns: the held-out fifth (8 a class) classified
text = run("--epochs", "10", "--seed", "1")
acc = [float(a) for a in re.findall(r"test_accuracy ([0-9.]+)", text)]
m = re.search(r"train '[^']*': (\d+) samples", text)
if not acc or acc[-1] < 0.9 or not m or int(m.group(1)) != 96:
    raise SystemExit("FAIL: expected 96 training samples and a test accuracy >= 0.9:\n" + text)

# 3. train/ and test/ subfolders
split = os.path.join(out, "split")
for part, sl in (("train", slice(0, 30)), ("test", slice(30, 40))):
    for name in names:
        os.makedirs(os.path.join(split, part, name))
        files = sorted(f for f in os.listdir(os.path.join(data, name)) if f.endswith((".png", ".jpg")))[sl]
        for f in files:
            shutil.copy(os.path.join(data, name, f), os.path.join(split, part, name, f))
text2 = run("--epochs", "10", "--seed", "1", "--data", split)
m = re.search(r"train '[^']*': (\d+) samples", text2)
acc2 = [float(a) for a in re.findall(r"test_accuracy ([0-9.]+)", text2)]
if not m or int(m.group(1)) != 90 or not acc2 or acc2[-1] < 0.9:
    raise SystemExit("FAIL: train/ and test/ subfolders: expected 90 training samples, test accuracy >= 0.9:\n"
                     + text2)
print("PASS: first batch equals PIL + PyTorch; test accuracy %.3f (held-out fifth), %.3f (test/ folder)"
      % (acc[-1], acc2[-1]))
