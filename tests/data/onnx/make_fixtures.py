#!/usr/bin/python3
"""Generate the small ONNX fixtures used by tests/unit/test_onnx_import.c.

Run with /usr/bin/python3 (onnx 1.12): `python3 make_fixtures.py` from any
directory; files are written next to this script. Output is deterministic.
Some fixtures are deliberately broken (missing initializer, external data,
bad sizes, unsupported ops) and are therefore never run through the checker.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def save(model, name, check=True):
    model.producer_name = "kiln make_fixtures.py"
    if check:
        onnx.checker.check_model(model)
    data = model.SerializeToString()
    assert len(data) < 100 * 1024, name
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def model(nodes, inputs, outputs, inits=(), opset=13, name="g", extra_opsets=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(graph, opset_imports=ops)


def typed(name, arr, dtype):
    """A TensorProto that stores its values in the typed fields (not raw_data)."""
    return helper.make_tensor(name, dtype, arr.shape, arr.flatten().tolist(), raw=False)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def tiny_conv(raw):
    rng = np.random.default_rng(7)
    w = (np.arange(18, dtype=np.float32) / 10 - 0.8).reshape(2, 1, 3, 3)
    b = np.array([0.5, -0.25], dtype=np.float32)
    w2 = rng.standard_normal((3, 8)).astype(np.float32)
    b2 = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    if raw:
        inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
                 numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2"),
                 # unused, and of a dtype kiln lacks: must be ignored
                 numpy_helper.from_array(np.zeros(4, np.float16), "unused_half")]
        flat = helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1)
        extra_nodes, extra_outputs = [], []
    else:
        inits = [typed("w", w, F), typed("b", b, F), typed("w2", w2, F), typed("b2", b2, F),
                 typed("shape", np.array([-1, 8], np.int64), I64),
                 typed("i32", np.array([1, -2, 3], np.int32), TensorProto.INT32),
                 typed("i8", np.array([-5, 7], np.int8), TensorProto.INT8),
                 typed("u8", np.array([200, 3], np.uint8), TensorProto.UINT8),
                 typed("flags", np.array([True, False, True]), TensorProto.BOOL),
                 typed("f64", np.array([[1.5, -2.25]]), TensorProto.DOUBLE)]
        flat = helper.make_node("Reshape", ["p", "shape"], ["f"], name="flat")
        extra_nodes = [helper.make_node("Identity", [n], ["out_" + n], name="id_" + n)
                       for n in ("i32", "i8", "u8", "flags", "f64")]
        extra_outputs = [vi("out_i32", TensorProto.INT32, [3]), vi("out_i8", TensorProto.INT8, [2]),
                         vi("out_u8", TensorProto.UINT8, [2]), vi("out_flags", TensorProto.BOOL, [3]),
                         vi("out_f64", TensorProto.DOUBLE, [1, 2])]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),  # unnamed: becomes "Relu_1"
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        flat,
        helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], name="fc", transB=1, alpha=0.5),
        helper.make_node("Softmax", ["g"], ["y"], name="sm", axis=1),
    ] + extra_nodes
    inputs = [vi("x", F, ["N", 1, 5, 5])]
    if raw:
        inputs.append(vi("w", F, [2, 1, 3, 3]))  # an initializer listed as input (old exporters)
    m = model(nodes, inputs, [vi("y", F, ["N", 3])] + extra_outputs, inits, opset=13, name="tiny_conv")
    save(m, "tiny_conv_raw.onnx" if raw else "tiny_conv_typed.onnx")


def slice_squeeze_softmax(opset):
    """x[N,1,4,6] -> Slice(axis 2, 1:3) -> Squeeze(1) -> Softmax(default axis) -> Unsqueeze(1)."""
    inits, nodes = [], []
    if opset < 10:
        nodes.append(helper.make_node("Slice", ["x"], ["s"], name="slice", starts=[1], ends=[3], axes=[2]))
    else:
        inits += [ints("starts", [1]), ints("ends", [3]), ints("axes", [2]), ints("steps", [1])]
        nodes.append(helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"], name="slice"))
    if opset < 13:
        nodes.append(helper.make_node("Squeeze", ["s"], ["q"], name="squeeze", axes=[1]))
        nodes.append(helper.make_node("Softmax", ["q"], ["m"], name="softmax"))
        nodes.append(helper.make_node("Unsqueeze", ["m"], ["y"], name="unsqueeze", axes=[1]))
    else:
        inits.append(ints("sq_axes", [1]))
        nodes.append(helper.make_node("Squeeze", ["s", "sq_axes"], ["q"], name="squeeze"))
        nodes.append(helper.make_node("Softmax", ["q"], ["m"], name="softmax"))
        nodes.append(helper.make_node("Constant", [], ["un_axes"], name="axes_const", value_ints=[1]))
        nodes.append(helper.make_node("Unsqueeze", ["m", "un_axes"], ["y"], name="unsqueeze"))
    m = model(nodes, [vi("x", F, ["N", 1, 4, 6])], [vi("y", F, ["N", 1, 2, 6])], inits, opset=opset)
    save(m, "slice_opset%d.onnx" % opset)


def legacy_ops():
    """Opset-7 forms: BatchNormalization-7, Clip-6, Pad-2, Split-2, Dropout-7, Gemm-7, Cast-6."""
    c = 2
    inits = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
             (("scale", [1.0, 2.0]), ("bias", [0.0, 0.5]), ("mean", [0.1, 0.2]), ("var", [1.0, 4.0]))]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], name="bn",
                         epsilon=1e-3, momentum=0.8, spatial=1),
        helper.make_node("Clip", ["bn"], ["clip"], name="clip", min=0.0, max=6.0),
        helper.make_node("Pad", ["clip"], ["pad"], name="pad", pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.5),
        helper.make_node("Split", ["pad"], ["a", "b"], name="split", axis=1, split=[1, 1]),
        helper.make_node("Dropout", ["a"], ["d"], name="drop", ratio=0.25),
        helper.make_node("LeakyRelu", ["b"], ["lr"], name="lrelu", alpha=0.2),
        helper.make_node("Concat", ["d", "lr"], ["cat"], name="cat", axis=1),
        helper.make_node("AveragePool", ["cat"], ["ap"], name="apool", kernel_shape=[3, 3], strides=[3, 3],
                         count_include_pad=1),
        helper.make_node("Flatten", ["ap"], ["fl"], name="flat"),
        helper.make_node("Cast", ["fl"], ["y"], name="cast", to=TensorProto.DOUBLE),
    ]
    m = model(nodes, [vi("x", F, ["N", c, 4, 4])], [vi("y", TensorProto.DOUBLE, ["N", 8])], inits, opset=7)
    save(m, "legacy_opset7.onnx")


def modern_ops():
    """Opset-17 forms: Dropout-13 (training_mode const false), Pad-13 inputs, Split-13, Clip-13, Shape-15."""
    inits = [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), ints("split", [1, 1]),
             numpy_helper.from_array(np.array(0.1, np.float32), "ratio"),
             numpy_helper.from_array(np.array(False), "training"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo")]
    nodes = [
        helper.make_node("Dropout", ["x", "ratio", "training"], ["d"], name="drop"),
        helper.make_node("Pad", ["d", "pads"], ["p"], name="pad", mode="reflect"),
        helper.make_node("Split", ["p", "split"], ["a", "b"], name="split", axis=1),
        helper.make_node("Clip", ["a", "lo", ""], ["c"], name="clip"),
        helper.make_node("Add", ["c", "b"], ["y"], name="add"),
        helper.make_node("Shape", ["y"], ["s"], name="shape", start=1, end=-1),
        helper.make_node("ConstantOfShape", ["s"], ["z"], name="cos",
                         value=helper.make_tensor("v", I64, [1], [3])),
    ]
    m = model(nodes, [vi("x", F, [2, 2, 4, 4])], [vi("y", F, [2, 1, 6, 6]), vi("z", I64, [2])], inits,
              opset=17)
    save(m, "modern_opset17.onnx")


def broken():
    x = vi("x", F, ["N", 1, 4, 4])
    y = vi("y", F, ["N", 1, 4, 4])
    # two unsupported ops (and one supported)
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                             [vi("i", I64, []), vi("c_in", TensorProto.BOOL, [])],
                             [vi("c_out", TensorProto.BOOL, [])])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms_1"),
        helper.make_node("Loop", ["", "cond"], [], name="loop", body=body),
    ]
    m = model(nodes, [x, vi("boxes", F, [1, 4, 4]), vi("scores", F, [1, 1, 4]),
                      vi("cond", TensorProto.BOOL, [])], [vi("r", F, ["N", 1, 4, 4])], opset=11)
    save(m, "unsupported_ops.onnx", check=False)

    # a non-default domain
    nodes = [helper.make_node("FusedConv", ["x"], ["y"], name="fused", domain="com.microsoft")]
    save(model(nodes, [x], [y], extra_opsets=[("com.microsoft", 1)]), "custom_domain.onnx", check=False)

    # a node reading a weight that is not there
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="n", kernel_shape=[1, 1])]
    save(model(nodes, [x], [y]), "missing_init.onnx", check=False)

    # external data
    w = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="n", kernel_shape=[1, 1])]
    save(model(nodes, [x], [y], [w]), "external_data.onnx", check=False)

    # a symbolic non-batch dimension
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    save(model(nodes, [vi("x", F, ["N", 3, "height", 8])], [vi("y", F, ["N", 3, "height", 8])]),
         "symbolic_dim.onnx")

    # raw_data of the wrong size: 100 bytes for a [10,10] float tensor
    w = numpy_helper.from_array(np.zeros((10, 10), np.float32), "w")
    w.raw_data = b"\0" * 100
    nodes = [helper.make_node("MatMul", ["x2", "w"], ["y"], name="mm")]
    save(model(nodes, [vi("x2", F, ["N", 10])], [vi("y", F, ["N", 10])], [w]), "bad_raw_size.onnx",
         check=False)

    # an old opset: Relu-6 is the op kiln knows, Add-6 (with its broadcast attribute) is not
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "r"], ["y"], name="add")]
    save(model(nodes, [x], [y], opset=6), "opset6.onnx")

    # an opset newer than kiln knows
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    save(model(nodes, [x], [y], opset=18), "opset18.onnx", check=False)

    # a float16 weight that is used
    w = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float16), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="n", kernel_shape=[1, 1])]
    save(model(nodes, [x], [y], [w]), "float16_weight.onnx", check=False)

    # an attribute value kiln does not implement
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], name="pad", mode="wrap")]
    save(model(nodes, [x], [y], [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])], opset=17), "pad_wrap.onnx",
         check=False)

    # BatchNormalization in training mode
    inits = [numpy_helper.from_array(np.ones(1, np.float32), n) for n in ("s", "b", "m", "v")]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn",
                              training_mode=1)]
    save(model(nodes, [x], [y], inits, opset=15), "bn_training.onnx", check=False)


def misc():
    # many unsupported ops: the message lists what fits and counts the rest
    nodes = [helper.make_node("Hardmax", ["x" if i == 0 else "f%d" % (i - 1)], ["f%d" % i],
                              name="a_rather_long_node_name_number_%d" % i) for i in range(60)]
    save(model(nodes, [vi("x", F, ["N", 4])], [vi("f59", F, ["N", 4])]), "many_unsupported.onnx")

    # nodes out of topological order, a first dimension with neither value nor name,
    # a Constant holding a tensor, and a graph output that is an initializer
    nodes = [
        helper.make_node("Add", ["r", "k"], ["y"], name="add"),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Constant", [], ["k"], name="k_const",
                         value=numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32))),
    ]
    inits = [numpy_helper.from_array(np.array([7], np.int64), "seven")]
    m = model(nodes, [vi("x", F, [None, 3])], [vi("y", F, [None, 3]), vi("seven", I64, [1])], inits)
    save(m, "unsorted.onnx", check=False)

    # two nodes writing the same value
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Sigmoid", ["x"], ["y"], name="b")]
    save(model(nodes, [vi("x", F, ["N", 3])], [vi("y", F, ["N", 3])]), "duplicate_output.onnx", check=False)


def review():
    """Inputs that once slipped through: window attributes whose lengths disagree only
    with output_shape (read past the values given), bool raw_data bytes other than 0/1,
    and an int64 ConstantOfShape value that used to be rounded silently."""
    x = vi("x", F, ["N", 1, 3, 3])
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", kernel_shape=[3, 3],
                              output_shape=[6])]
    save(model(nodes, [x], [vi("y", F, None)], [w]), "convt_output_shape_rank.onnx", check=False)

    mask = TensorProto()
    mask.name = "mask"
    mask.data_type = TensorProto.BOOL
    mask.dims.extend([4])
    mask.raw_data = bytes([0, 1, 2, 255])
    nodes = [helper.make_node("Constant", [], ["m"], name="m_const", value=mask),
             helper.make_node("Cast", ["m"], ["y"], name="cast", to=F)]
    save(model(nodes, [vi("x", F, ["N", 4])], [vi("y", F, [4])]), "bool_raw.onnx", check=False)

    # an int64 fill value that a double (kiln's attribute) cannot hold exactly
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["y"], name="fill",
                              value=numpy_helper.from_array(np.array([2**53 + 1], np.int64)))]
    save(model(nodes, [vi("x", F, ["N", 4])], [vi("y", I64, [2])], [ints("shape", [2])]),
         "cos_int64_inexact.onnx")


def lenient():
    """Models ONNX does not allow that kiln once read anyway (issue 15, item 4)."""
    x = vi("x", F, ["N", 1, 4, 4])
    y = vi("y", F, None)
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    # output_padding not smaller than the stride
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", kernel_shape=[3, 3],
                              strides=[2, 2], output_padding=[1, 2])]
    save(model(nodes, [x], [y], [w]), "convt_output_padding.onnx", check=False)
    # auto_pad together with explicit (non-zero) pads
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3],
                              auto_pad="SAME_UPPER", pads=[1, 1, 1, 1])]
    save(model(nodes, [x], [y], [w]), "auto_pad_and_pads.onnx", check=False)
    # an initializer with raw_data and float_data
    both = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    both.float_data.extend([1.0] * 9)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])]
    save(model(nodes, [x], [y], [both]), "raw_and_typed.onnx", check=False)
    # two opset imports for the default domain
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    save(model(nodes, [x], [y], extra_opsets=[("", 11)]), "two_default_opsets.onnx", check=False)
    # an IR version newer than kiln knows
    m = model(nodes, [x], [y])
    m.ir_version = 99
    save(m, "ir_version_99.onnx", check=False)
    # the same graph output twice
    save(model(nodes, [x], [y, y]), "output_twice.onnx", check=False)
    # graph outputs kiln cannot produce: a float16 tensor, a sequence
    save(model(nodes, [x], [vi("y", TensorProto.FLOAT16, ["N", 1, 4, 4])]), "output_float16.onnx",
         check=False)
    seq = helper.make_tensor_sequence_value_info("y", F, None)
    save(model(nodes, [x], [seq]), "output_sequence.onnx", check=False)
    # ceil_mode other than 0 or 1
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], ceil_mode=2)]
    save(model(nodes, [x], [y]), "ceil_mode_2.onnx", check=False)
    # Celu with alpha 0 (it divides by alpha)
    nodes = [helper.make_node("Celu", ["x"], ["y"], name="celu", alpha=0.0)]
    save(model(nodes, [x], [y]), "celu_alpha_0.onnx", check=False)


def tensors():
    t = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3) / 2, "x")
    with open(os.path.join(HERE, "tensor_f32.pb"), "wb") as f:
        f.write(t.SerializeToString())
    t = typed("idx", np.array([[3, -1]], np.int64), I64)
    with open(os.path.join(HERE, "tensor_i64.pb"), "wb") as f:
        f.write(t.SerializeToString())


if __name__ == "__main__":
    tiny_conv(raw=True)
    tiny_conv(raw=False)
    for v in (7, 11, 13):
        slice_squeeze_softmax(v)
    legacy_ops()
    modern_ops()
    broken()
    misc()
    review()
    lenient()
    tensors()
