#!/usr/bin/python3
"""check_images.py KILN OUTDIR - `kiln run --image` against an independent reference.

Writes PNG and JPEG fixtures with PIL (grey, grey + alpha, RGB, RGBA, palette,
16-bit PNG; grey and RGB JPEG), and identity ONNX models (one per input shape:
the model's output is its input, so `kiln run --output` writes exactly the
preprocessed batch). For each case it runs kiln and compares the batch with
the same preprocessing computed here: PIL's decoding, numpy's channel
conversion (ITU-R 601 luma, alpha dropped), PyTorch's bilinear interpolate
(align_corners=False, no antialiasing) and numpy's crop, scale and
normalisation. Pixels decoded by PIL and by kiln must agree exactly (both
read the file losslessly or through libjpeg-turbo's default IDCT); values
within 1e-4 after the float arithmetic.
Needs /usr/bin/python3 with numpy, torch, onnx and PIL (python3-pil).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from PIL import Image

kiln, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)


def identity_model(path, shape):
    """An ONNX model whose output 'y' is its input 'x' of `shape` (batch symbolic)."""
    dims = ["N"] + list(shape)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def smooth(h, w, c):
    """A picture with gradients and noise, so that resampling errors show."""
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [(yy * 255 // max(h - 1, 1) + xx * 37 + k * 60) % 256 for k in range(c)]
    img = np.stack(planes, -1).astype(np.int32) + rng.integers(-20, 20, (h, w, c))
    return np.clip(img, 0, 255).astype(np.uint8)


def to_channels(px, channels):
    """uint8 [H, W, c] decoded pixels -> float64 [channels, H, W]: alpha dropped, grey <-> RGB."""
    px = px.astype(np.float64)
    if px.ndim == 2:
        px = px[:, :, None]
    colour = px.shape[2] >= 3
    if channels == 3:
        rgb = px[:, :, :3] if colour else np.repeat(px[:, :, :1], 3, 2)
        return rgb.transpose(2, 0, 1)
    grey = 0.299 * px[:, :, 0] + 0.587 * px[:, :, 1] + 0.114 * px[:, :, 2] if colour else px[:, :, 0]
    return grey[None]


def reference(path, channels, h, w, resize="stretch", scale=1 / 255, mean=(0, 0, 0), std=(1, 1, 1),
              invert=False):
    img = Image.open(path)
    px = np.asarray(img.convert("RGB") if img.mode == "P" else img)
    if px.dtype == np.uint16 or px.dtype == np.int32:   # a 16-bit PNG: kiln keeps the high byte
        px = (px.astype(np.uint32) >> 8).astype(np.uint8)
    x = torch.from_numpy(to_channels(px, channels))[None]
    ih, iw = x.shape[2], x.shape[3]
    if resize == "crop":
        s = max(h / ih, w / iw)
        rh, rw = max(h, int(np.floor(ih * s + 0.5))), max(w, int(np.floor(iw * s + 0.5)))
        x = torch.nn.functional.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False)
        top, left = (rh - h) // 2, (rw - w) // 2
        x = x[:, :, top:top + h, left:left + w]
    else:
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    v = x[0].numpy()
    if invert:
        v = 255 - v
    m = np.array(mean[:channels]).reshape(-1, 1, 1)
    sd = np.array(std[:channels]).reshape(-1, 1, 1)
    return ((v * scale - m) / sd).astype(np.float32)


def run_kiln(model, images, extra, outdir):
    cmd = [kiln, "run", model, "--output", outdir, "--top", "0", "--image"] + images + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return np.load(os.path.join(outdir, "y.npy"))


# ------------------------------------------------------------- fixtures
files = {}
def save(name, array_or_image, **kw):
    path = os.path.join(out, name)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, **kw)
    files[name] = path

save("grey.png", smooth(23, 31, 1)[:, :, 0])
save("grey_alpha.png", Image.fromarray(smooth(20, 20, 2), "LA"))
save("rgb.png", smooth(37, 29, 3))
save("rgba.png", smooth(16, 40, 4))
save("palette.png", Image.fromarray(smooth(30, 30, 3)).convert("P", palette=Image.ADAPTIVE, colors=17))
save("deep.png", Image.fromarray((smooth(12, 14, 1)[:, :, 0].astype(np.int32) * 257 + 100).astype(np.uint16)))
save("rgb.jpg", smooth(40, 52, 3), quality=90)
save("grey.jpg", smooth(33, 27, 1)[:, :, 0], quality=85)
save("big.jpg", smooth(300, 400, 3), quality=95)
# a file named .png that holds a JPEG: the format is told by the bytes
os.replace(os.path.join(out, "rgb.jpg"), os.path.join(out, "rgb_named.png"))
files["rgb_named.png"] = os.path.join(out, "rgb_named.png")
del files["rgb.jpg"]

# decoded pixels must agree exactly: a 1x1 model-free check through a same-size stretch (ratio 1: no
# interpolation) with the raw preset
checks = 0
for name, path in sorted(files.items()):
    im = Image.open(path)
    w, h = im.size
    for channels in (1, 3):
        model = os.path.join(out, "id_%d_%d_%d.onnx" % (channels, h, w))
        identity_model(model, [channels, h, w])
        got = run_kiln(model, [path], ["--preset", "raw"], os.path.join(out, "o"))
        want = reference(path, channels, h, w, scale=1.0)
        assert got.shape == (1, channels, h, w), (name, got.shape)
        err = np.abs(got[0] - want).max()
        if err > 1e-3:
            raise SystemExit("FAIL: %s, %d channels, same size: max error %g" % (name, channels, err))
        checks += 1

# resizing, cropping, scaling and normalisation, several pictures in one batch
cases = [
    # channels, h, w, kiln options, reference options
    (1, 28, 28, [], {}),
    (3, 32, 32, [], {}),
    (1, 28, 28, ["--preset", "mnist", "--invert"], {"invert": True}),
    (3, 24, 24, ["--preset", "imagenet"],
     {"resize": "crop", "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}),
    (3, 20, 36, ["--resize", "crop", "--scale", "0.5", "--mean", "1,2,3", "--std", "2,4,8"],
     {"resize": "crop", "scale": 0.5, "mean": (1, 2, 3), "std": (2, 4, 8)}),
    (1, 50, 9, ["--resize", "stretch", "--scale", "1", "--mean", "127.5", "--std", "127.5"],
     {"scale": 1.0, "mean": (127.5,) * 3, "std": (127.5,) * 3}),
    (3, 64, 64, ["--resize", "crop"], {"resize": "crop"}),
]
names = sorted(files)
for channels, h, w, opts, ref in cases:
    model = os.path.join(out, "id_%d_%d_%d.onnx" % (channels, h, w))
    identity_model(model, [channels, h, w])
    paths = [files[n] for n in names]
    got = run_kiln(model, paths, opts, os.path.join(out, "o"))
    assert got.shape == (len(paths), channels, h, w), got.shape
    for i, p in enumerate(paths):
        want = reference(p, channels, h, w, **ref)
        err = np.abs(got[i] - want).max() / max(1.0, np.abs(want).max())
        if err > 1e-4:
            raise SystemExit("FAIL: %s into %dx%dx%d with %s: relative error %g" % (names[i], channels, h, w,
                                                                                 opts, err))
        checks += 1

# an [N, H, W] input takes grey pictures
model = os.path.join(out, "id_hw.onnx")
identity_model(model, [28, 28])
got = run_kiln(model, [files["rgb.png"]], [], os.path.join(out, "o"))
want = reference(files["rgb.png"], 1, 28, 28)[0]
assert got.shape == (1, 28, 28) and np.abs(got[0] - want).max() < 1e-5
checks += 1
print("PASS: %d pictures decoded and preprocessed as PIL + PyTorch do" % checks)
