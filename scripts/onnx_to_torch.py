"""A kiln model's ONNX file (as `kiln compile` writes it) run in PyTorch, for comparisons.

run(model, params, consts, images, dropout, training) evaluates the graph's nodes in order with torch functions:
Conv, Gemm, MatMul, Max/AveragePool, GlobalAverage/MaxPool, the activations (with Clip, HardSigmoid, PRelu),
BatchNormalization in training mode, Dropout (dropout(tensor, node) gives its output: kiln's mask, or torch's
own), Flatten, Reshape, Pad (constant), Slice, Add, Mul, Concat, Softmax. It returns the model's output and, when the model ends in Softmax, its logits.
"""
import math

import numpy as np
import onnx
import torch
import torch.nn.functional as F


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


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


def conv_transpose(x, w, b, a):
    """ONNX ConvTranspose: the full transposed convolution, output_padding zeros at the end, then the pads
    cropped (they may differ at the two ends, as TensorFlow's 'same' gives), then the bias."""
    nsp = w.dim() - 2
    begin, end = pads_of(a, nsp)
    outpad = list(a.get("output_padding", [0] * nsp))
    if "output_shape" in a:
        raise NotImplementedError("onnx_to_torch.py: ConvTranspose with output_shape")
    y = F.conv_transpose2d(x, w, None, stride=a.get("strides", [1] * nsp), dilation=a.get("dilations", [1] * nsp),
                           groups=a.get("group", 1))
    pad = []
    for i in reversed(range(nsp)):
        pad += [0, outpad[i]]
    y = F.pad(y, pad)
    sl = [slice(None), slice(None)] + [slice(begin[i], y.shape[2 + i] - end[i]) for i in range(nsp)]
    y = y[tuple(sl)]
    return y if b is None else y + b.reshape([1, -1] + [1] * nsp)


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


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def resize(i, a):
    """Resize as kiln's upsampling2d writes it: integer scales on H, W; nearest with asymmetric coordinates and
    floor rounding (a repeat), or linear with half_pixel (PyTorch's align_corners=False)."""
    mode, coord = text(a.get("mode", "nearest")), text(a.get("coordinate_transformation_mode", "half_pixel"))
    scales = [float(v) for v in i[2]] if len(i) > 2 and i[2] is not None and i[2].numel() else []
    if len(scales) != 4 or scales[:2] != [1.0, 1.0] or any(s != int(s) for s in scales[2:]):
        raise SystemExit("onnx_to_torch.py: only Resize by integer scales on H, W is supported here")
    f = (int(scales[2]), int(scales[3]))
    if mode == "nearest" and coord == "asymmetric" and text(a.get("nearest_mode", "")) == "floor":
        return i[0].repeat_interleave(f[0], dim=2).repeat_interleave(f[1], dim=3)
    if mode == "linear" and coord == "half_pixel":
        return F.interpolate(i[0], scale_factor=f, mode="bilinear", align_corners=False)
    raise SystemExit(f"onnx_to_torch.py: Resize {mode} {coord} is not supported here")


def run(model, params, consts, images, dropout, training=True):
    """The model's output (and its logits when it ends in Softmax); BatchNorm on batch statistics (updating the
    running ones) when training, else on the running ones."""
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
        elif op == "ConvTranspose":
            y = conv_transpose(i[0], i[1], i[2] if len(i) > 2 else None, a)
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
        elif op == "GlobalMaxPool":
            y = i[0].amax(dim=tuple(range(2, i[0].dim())), keepdim=True)
        elif op == "Clip":
            lo = float(i[1]) if len(i) > 1 and i[1] is not None else None
            hi = float(i[2]) if len(i) > 2 and i[2] is not None else None
            y = torch.clamp(i[0], min=lo, max=hi)
        elif op == "HardSigmoid":
            y = torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0.0, 1.0)
        elif op == "PRelu":
            y = torch.where(i[0] < 0, i[1] * i[0], i[0])
        elif op == "Pad":
            if a.get("mode", b"constant") not in (b"constant", "constant"):
                raise SystemExit("onnx_to_torch.py: only constant Pad is supported here")
            p = [int(v) for v in i[1]]
            r = i[0].dim()
            pad = []
            for k in reversed(range(r)):
                pad += [p[k], p[r + k]]
            y = F.pad(i[0], pad, value=float(i[2]) if len(i) > 2 and i[2] is not None else 0.0)
        elif op == "Slice":
            starts, ends = [int(v) for v in i[1]], [int(v) for v in i[2]]
            axes = [int(v) for v in i[3]] if len(i) > 3 and i[3] is not None else list(range(len(starts)))
            steps = [int(v) for v in i[4]] if len(i) > 4 and i[4] is not None else [1] * len(starts)
            sl = [slice(None)] * i[0].dim()
            for s0, e0, ax, st in zip(starts, ends, axes, steps):
                sl[ax] = slice(s0, e0, st)
            y = i[0][tuple(sl)]
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
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], training=training,
                             momentum=1.0 - a.get("momentum", 0.9), eps=a.get("epsilon", 1e-5))
        elif op == "Div":
            y = i[0] / i[1]
        elif op == "Erf":
            y = torch.erf(i[0])
        elif op == "LayerNormalization":
            ax = a.get("axis", -1) % i[0].dim()
            y = F.layer_norm(i[0], tuple(i[0].shape[ax:]), i[1], i[2] if len(i) > 2 else None,
                             eps=a.get("epsilon", 1e-5))
        elif op == "Resize":
            y = resize(i, a)
        elif op == "Dropout":
            ratio = float(i[1]) if len(i) > 1 and i[1] is not None else 0.5
            y = dropout(i[0], n, ratio)
            drop += 1
        else:
            raise SystemExit(f"onnx_to_torch.py: op {op} is not supported here")
        env[n.output[0]] = y
    return env[model.graph.output[0].name], logits


