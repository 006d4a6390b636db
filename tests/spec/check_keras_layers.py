#!/usr/bin/python3
"""check_keras_layers.py KILN OUTDIR - the Keras layers of the spec language against PyTorch (tests/spec.cmake).

One small model per layer form (zero_padding2d, cropping2d, depthwise_conv2d, separable_conv2d, global_maxpool,
prelu, swish, relu6, relu(max_value=), hard_sigmoid, upsampling2d, layer_norm, gelu, add([a, b]), concat([a, b]),
name=, trainable=false) is written as a .kiln file; `kiln compile -o` exports it (its weights: kiln's seeded initializers, read back from the
ONNX initializers by their Keras names), `kiln run --output` runs it on random inputs, and the output must equal
the layer as Keras defines it, written here in PyTorch (float64) from those weights, within 1e-5 relative.
Needs /usr/bin/python3 with numpy, torch and onnx.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

kiln, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(11)


def t(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def same_pads(size, k, s=1, d=1):
    """TensorFlow's 'same' padding (before, after) of one axis."""
    ek = (k - 1) * d + 1
    o = -(-size // s)
    total = max((o - 1) * s + ek - size, 0)
    return total // 2, total - total // 2


def hard_sigmoid(x):
    return F.relu6(x + 3) / 6     # Keras 3


# name -> (input shape without the batch, layers, reference(x, w) in torch)
CASES = {
    "zero_padding": ((3, 5, 6), "zero_padding2d(((1, 2), (3, 0)))",
                     lambda x, w: F.pad(x, (3, 0, 1, 2))),
    "zero_padding_int": ((2, 4, 4), "zero_padding2d(2)", lambda x, w: F.pad(x, (2, 2, 2, 2))),
    "cropping": ((3, 9, 8), "cropping2d(((1, 2), (3, 1)))", lambda x, w: x[:, :, 1:9 - 2, 3:8 - 1]),
    "cropping_pair": ((2, 7, 7), "cropping2d((1, 2))", lambda x, w: x[:, :, 1:6, 2:5]),
    "depthwise": ((3, 9, 8), "depthwise_conv2d(3, depth_multiplier=2, strides=2, padding=same, "
                             "bias_initializer=uniform(-0.5, 0.5))",
                  lambda x, w: F.conv2d(F.pad(x, same_pads(8, 3, 2) + same_pads(9, 3, 2)),
                                        w["depthwise_conv2d/depthwise_kernel"], w["depthwise_conv2d/bias"], stride=2,
                                        groups=3)),
    "separable": ((4, 8, 8), "separable_conv2d(5, 3, dilation=2, activation=relu, "
                             "bias_initializer=uniform(-0.5, 0.5))",
                  lambda x, w: F.relu(F.conv2d(F.conv2d(x, w["separable_conv2d/depthwise_kernel"], dilation=2,
                                                        groups=4),
                                               w["separable_conv2d/pointwise_kernel"], w["separable_conv2d/bias"]))),
    "global_maxpool": ((3, 5, 4), "global_maxpool()", lambda x, w: x.amax(dim=(2, 3))),
    "global_maxpool_keep": ((3, 5, 4), "global_maxpool(keepdims=true)", lambda x, w: x.amax(dim=(2, 3),
                                                                                         keepdim=True)),
    "prelu": ((3, 4, 5), "prelu(alpha_initializer=uniform(0, 1))",
              lambda x, w: torch.where(x < 0, w["prelu/alpha"][None] * x, x)),
    "prelu_shared": ((3, 4, 5), "prelu(shared_axes=(2, 3), alpha_initializer=uniform(0, 1))",
                     lambda x, w: torch.where(x < 0, w["prelu/alpha"][None] * x, x)),
    "swish": ((10,), "dense(6, activation=swish)",
              lambda x, w: (lambda y: y * torch.sigmoid(y))(x @ w["dense/kernel"].T + w["dense/bias"])),
    "swish_layer": ((7,), "swish()", lambda x, w: x * torch.sigmoid(x)),
    "relu6": ((3, 4, 4), "conv2d(2, 3, activation=relu6, bias_initializer=uniform(2, 6))",
              lambda x, w: F.relu6(F.conv2d(x, w["conv2d/kernel"], w["conv2d/bias"]))),
    "relu_max": ((9,), "relu(max_value=0.7)", lambda x, w: x.clamp(0, 0.7)),
    "relu6_layer": ((9,), "relu6()", lambda x, w: F.relu6(x)),
    "hard_sigmoid": ((8,), "dense(5, activation=hard_sigmoid)",
                     lambda x, w: hard_sigmoid(x @ w["dense/kernel"].T + w["dense/bias"])),
    "hard_sigmoid_layer": ((8,), "hard_sigmoid()", lambda x, w: hard_sigmoid(x)),
    # Keras's UpSampling2D: nearest repeats rows and columns; bilinear is tf.image.resize's half-pixel bilinear,
    # PyTorch's align_corners=False
    "upsampling_nearest": ((3, 4, 5), "upsampling2d((2, 3))",
                           lambda x, w: x.repeat_interleave(2, dim=2).repeat_interleave(3, dim=3)),
    "upsampling_default": ((2, 3, 3), "upsampling2d()",
                           lambda x, w: x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)),
    "upsampling_bilinear": ((2, 4, 3), "upsampling2d((3, 2), interpolation=bilinear)",
                            lambda x, w: F.interpolate(x, scale_factor=(3, 2), mode="bilinear", align_corners=False)),
    # Keras's LayerNormalization (epsilon 1e-3 by default) on features; on (C, H, W) with axis=1: all of it
    "layer_norm": ((6,), "layer_norm(gamma_initializer=uniform(0.5, 1.5), beta_initializer=uniform(-0.5, 0.5))",
                   lambda x, w: F.layer_norm(x, (6,), w["layer_norm/gamma"], w["layer_norm/beta"], eps=1e-3)),
    "layer_norm_chw": ((3, 4, 5), "layer_norm(axis=1, epsilon=0.01, gamma_initializer=uniform(0.5, 1.5), "
                                  "beta_initializer=uniform(-0.5, 0.5))",
                       lambda x, w: F.layer_norm(x, (3, 4, 5), w["layer_norm/gamma"], w["layer_norm/beta"],
                                                 eps=0.01)),
    "layer_norm_hw": ((3, 4, 5), "layer_norm(axis=-2, center=false, scale=false)",
                      lambda x, w: F.layer_norm(x, (4, 5), eps=1e-3)),
    # Keras's gelu (approximate=False): x * Phi(x), the erf form
    "gelu": ((10,), "dense(6, activation=gelu)",
             lambda x, w: F.gelu(x @ w["dense/kernel"].T + w["dense/bias"])),
    "gelu_layer": ((3, 4, 4), "gelu(approximate=false)", lambda x, w: F.gelu(x)),
}
# inputs scaled by 5, so that both bounds of relu6 and hard_sigmoid are crossed
SCALED = {"relu6_layer", "hard_sigmoid_layer", "gelu_layer"}

# models that need more than one line: name -> (input shape, spec body, reference)
MULTI = {
    "merge_lists": ((4,), """    dense(3, name="left")
    b = dense(3)(x)
    s = add([left, b])
    m = multiply([s, left])
    concat([m, s])""",
                    lambda x, w: (lambda a, b: torch.cat([(a + b) * a, a + b], 1))(
                        x @ w["left/kernel"].T + w["left/bias"], x @ w["b/kernel"].T + w["b/bias"])),
    "frozen": ((3, 6, 6), """    conv2d(4, 3, trainable=false, name="stem")
    batchnorm(trainable=false, moving_mean_initializer=uniform(-1, 1), moving_variance_initializer=uniform(1, 2))
    global_maxpool()""",
               lambda x, w: ((F.conv2d(x, w["stem/kernel"], w["stem/bias"]) - w["batchnorm/moving_mean"][:, None, None])
                             / torch.sqrt(w["batchnorm/moving_variance"][:, None, None] + 1e-3)
                             * w["batchnorm/gamma"][:, None, None] + w["batchnorm/beta"][:, None, None]).amax(
                   dim=(2, 3))),
}


def run(*args):
    r = subprocess.run([kiln] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: kiln %s\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout + r.stderr


checked = 0
for name, (shape, body, ref) in list(CASES.items()) + list(MULTI.items()):
    spec = os.path.join(out, name + ".kiln")
    with open(spec, "w") as f:
        lines = body if name in MULTI else "    " + body
        f.write("model %s(seed=4) {\n    x = input(shape=%s)\n%s\n}\n" % (name, repr(tuple(shape)), lines))
    onnx_path = os.path.join(out, name + ".onnx")
    run("compile", spec, "-o", onnx_path)
    weights = {i.name: t(onnx.numpy_helper.to_array(i)) for i in onnx.load(onnx_path).graph.initializer}
    x = rng.standard_normal((3,) + tuple(shape)).astype(np.float32)
    if name in SCALED:
        x *= 5
    np.save(os.path.join(out, name + "_x.npy"), x)
    run("run", spec, "--input", os.path.join(out, name + "_x.npy"), "--output", os.path.join(out, name), "--top",
        "0")
    outputs = [f for f in os.listdir(os.path.join(out, name)) if f.endswith(".npy")]
    assert len(outputs) == 1, outputs
    got = np.load(os.path.join(out, name, outputs[0]))
    want = ref(t(x), weights).numpy()
    if got.shape != want.shape:
        raise SystemExit("FAIL: %s: kiln gives shape %s, the reference %s" % (name, got.shape, want.shape))
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    if err > 1e-5:
        raise SystemExit("FAIL: %s: relative error %g" % (name, err))
    checked += 1
    print("%-20s %-14s max relative error %.2e" % (name, str(got.shape), err))
print("PASS: %d Keras layer forms equal their PyTorch definitions" % checked)
