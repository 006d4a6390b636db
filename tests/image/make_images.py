#!/usr/bin/python3
"""make_images.py OUTDIR SOURCE_DIR - the pictures the image CLI tests feed to kiln (tests/image.cmake).

  digit_<i>_<label>.png   MNIST test digits 0-3 of data/mnist (28x28 grey, white on black), label in the name
  paper_<label>.jpg       MNIST test digit 1 as a 112x112 RGB JPEG, dark on white (a scan: needs --invert)
  digits.txt              the ten class names, zero to nine; digits_short.txt only three of them;
                          cats.txt: dog, cat (a one-unit sigmoid's two classes)
  truncated.png           digit 0's PNG cut in its image data
  corrupt.png             digit 0's PNG with its image data overwritten (the CRC no longer holds)
  truncated.jpg           the JPEG cut in half
  text.png                a text file named .png
  picture.bmp             a BMP (a format kiln does not read)
  empty.jpg               an empty file
Written with PIL (python3-pil) from the IDX files with numpy.
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

out, src = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
mnist = os.path.join(src, "data", "mnist")
with gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)

for i in range(4):
    Image.fromarray(images[i]).save(os.path.join(out, "digit_%d_%d.png" % (i, labels[i])))
paper = Image.fromarray(255 - images[1]).resize((112, 112), Image.BILINEAR).convert("RGB")
paper.save(os.path.join(out, "paper_%d.jpg" % labels[1]), quality=92)

names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
with open(os.path.join(out, "digits.txt"), "w") as f:
    f.write("\n".join(names) + "\n")
with open(os.path.join(out, "cats.txt"), "w") as f:
    f.write("dog\ncat\n")
with open(os.path.join(out, "digits_short.txt"), "w") as f:
    f.write("\n".join(names[:3]) + "\n")

png = open(os.path.join(out, "digit_0_%d.png" % labels[0]), "rb").read()
idat = png.index(b"IDAT")
open(os.path.join(out, "truncated.png"), "wb").write(png[:idat + 30])
open(os.path.join(out, "corrupt.png"), "wb").write(png[:idat + 8] + bytes(40) + png[idat + 48:])
jpg = open(os.path.join(out, "paper_%d.jpg" % labels[1]), "rb").read()
open(os.path.join(out, "truncated.jpg"), "wb").write(jpg[:len(jpg) // 2])
open(os.path.join(out, "text.png"), "w").write("this is not a picture\n")
Image.fromarray(images[0]).save(os.path.join(out, "picture.bmp"))
open(os.path.join(out, "empty.jpg"), "wb").close()
print("labels of digits 0-3:", list(labels[:4]), "paper:", labels[1])

# images(dir) datasets the spec checker must refuse, each with its spec (relative paths: next to the specs)
os.makedirs(os.path.join(out, "ds_no_classes"), exist_ok=True)
open(os.path.join(out, "ds_no_classes", "readme.txt"), "w").write("pictures go in class subfolders\n")
os.makedirs(os.path.join(out, "ds_no_pictures", "cat"), exist_ok=True)
os.makedirs(os.path.join(out, "ds_no_pictures", "dog"), exist_ok=True)
Image.fromarray(images[0]).save(os.path.join(out, "ds_no_pictures", "cat", "a.png"))
open(os.path.join(out, "ds_no_pictures", "dog", "notes.txt"), "w").write("no pictures here\n")
for cls, i in (("cat", 0), ("dog", 1)):
    os.makedirs(os.path.join(out, "ds_ok", cls), exist_ok=True)
    Image.fromarray(images[i]).save(os.path.join(out, "ds_ok", cls, "a.png"))
for name, dataset in (("ds_missing", 'images("no_such_dir")'), ("ds_no_classes", 'images("ds_no_classes")'),
                      ("ds_no_pictures", 'images("ds_no_pictures")'), ("ds_image_folder", 'image_folder("x")'),
                      ("ds_idx_missing", 'idx("no_mnist_here")'), ("ds_flat", 'images("ds_ok")')):
    shape = "(784,)" if name == "ds_flat" else "(1, 28, 28)"
    units = 10 if name == "ds_idx_missing" else 2
    with open(os.path.join(out, name + ".kiln"), "w") as f:
        f.write("model m {\n    input(shape=%s)\n    flatten()\n    dense(%d, activation=softmax)\n}\n\n"
                "train {\n    dataset = %s\n    loss = cross_entropy\n    optimizer = adam()\n}\n"
                % (shape, units, dataset))
