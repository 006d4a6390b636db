#!/usr/bin/python3
"""Write kiln's own ONNX op cases in the layout of the ONNX node tests.

Each case is a directory NAME/ with model.onnx (one node), test_data_set_0/
input_*.pb and output_0.pb (numpy's result). tests/onnx_node.cmake runs them
with kn_onnx_node_runner on both backends (onnx_case.NAME). They cover what
the official node tests miss:
- Einsum (opset 12, float32; numpy.einsum in float64, then rounded): the
  matmul-shaped equations exporters emit, which the five official tests
  (float64) do not: attention products, "..." broadcasting, implicit outputs,
  outer products, several contracted subscripts, one-operand transposes and
  sums. REFUSED lists equations kiln refuses cleanly (--expect-unsupported).
- ScatterND with constant indices (Swin-T's shifted-window mask), rows and
  elements, negative indices, opset 16's add.
- Dropout-12 with a constant true training_mode and a constant ratio of 0
  (what PyTorch exports for dropout(p=0) traced in training mode: Swin-T).

Usage: /usr/bin/python3 tests/data/onnx/cases/make_cases.py   (rewrites the cases next to it)
"""
import os
import shutil

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (equation, input shapes)
CASES = {
    "batch_matmul": ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    "attention_scores": ("bhid,bhjd->bhij", [(2, 3, 4, 8), (2, 3, 5, 8)]),
    "attention_values": ("bhij,bhjd->bhid", [(2, 3, 4, 5), (2, 3, 5, 8)]),
    "ellipsis_broadcast": ("...ij,...jk->...ik", [(2, 3, 4, 5), (1, 5, 6)]),
    "implicit_matmul": ("ij,jk", [(3, 4), (4, 5)]),
    "implicit_ascii_order": ("zB,Ba", [(3, 4), (4, 2)]),
    "linear": ("bnd,hd->bnh", [(2, 7, 6), (5, 6)]),
    "outer": ("bi,bj->bij", [(3, 4), (3, 5)]),
    "two_contracted": ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)]),
    "permuted_output": ("bqhd,bkhd->bhqk", [(2, 4, 3, 8), (2, 5, 3, 8)]),
    "sum_alone": ("ij,jk->k", [(3, 4), (4, 5)]),
    "transpose3": ("ijk->kij", [(2, 3, 4)]),
    "sum_to_scalar": ("ijk->", [(2, 3, 4)]),
    "reduce_transpose": ("abc->ca", [(2, 3, 4)]),
}

# refused cleanly (KN_ERR_UNSUPPORTED): name: (equation, input shapes)
REFUSED = {
    "three_operands": ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    "diagonal": ("ii->i", [(3, 3)]),
}


def write(name, eq, shapes, rng):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    y = np.einsum(eq, *[x.astype(np.float64) for x in xs]).astype(np.float32)
    node = helper.make_node("Einsum", names, ["y"], equation=eq)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, x.shape) for n, x in zip(names, xs)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for i, x in enumerate(xs):
        with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, names[i]).SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(y), "y").SerializeToString())


def write_model(name, nodes, inputs, inits, y, opset):
    """A node-test directory: graph inputs `inputs` (name -> array), initializers `inits`, expected output y."""
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(x.dtype)], x.shape) for n, x in inputs.items()],
        [helper.make_tensor_value_info("y", onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(y.dtype)], y.shape)],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for i, (n, x) in enumerate(inputs.items()):
        with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, n).SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y, "y").SerializeToString())


def scatter_nd(data, indices, updates, reduction="none"):
    out = data.copy()
    for idx in np.ndindex(indices.shape[:-1]):
        t = tuple(indices[idx])
        if reduction == "add":
            out[t] += updates[idx]
        else:
            out[t] = updates[idx]
    return out


def other_cases(rng):
    names = []
    # Swin's mask: zeros [7, 7] with rectangles of labels 0..8 written element by element (constant indices)
    mask = np.zeros((7, 7), np.float32)
    idx = np.array([[[r, c] for c in range(7)] for r in range(4, 7)], np.int64)  # [3, 7, 2]
    upd = rng.standard_normal((3, 7)).astype(np.float32)
    write_model("scatternd_elements", [helper.make_node("ScatterND", ["x", "i", "u"], ["y"])],
                {"x": mask, "u": upd}, {"i": idx}, scatter_nd(mask, idx, upd), 13)
    names.append("scatternd_elements")
    data = rng.standard_normal((4, 3, 5)).astype(np.float32)
    idx = np.array([[2], [-4]], np.int64)  # rows, one negative
    upd = rng.standard_normal((2, 3, 5)).astype(np.float32)
    write_model("scatternd_rows_negative", [helper.make_node("ScatterND", ["x", "i", "u"], ["y"])],
                {"x": data, "u": upd}, {"i": idx}, scatter_nd(data, idx, upd), 13)
    names.append("scatternd_rows_negative")
    idx = np.array([[1, 2], [1, 2], [3, 0]], np.int64)  # a repeated index: both updates add
    upd = rng.standard_normal((3, 5)).astype(np.float32)
    write_model("scatternd_add", [helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction="add")],
                {"x": data, "u": upd}, {"i": idx}, scatter_nd(data, idx, upd, "add"), 16)
    names.append("scatternd_add")
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    write_model("dropout_training_ratio0", [helper.make_node("Dropout", ["x", "r", "t"], ["y"])],
                {"x": x}, {"r": np.array(0.0, np.float32), "t": np.array(True)}, x, 13)
    names.append("dropout_training_ratio0")
    return names


def main():
    rng = np.random.default_rng(17)
    for name, (eq, shapes) in {**CASES, **REFUSED}.items():
        write(name, eq, shapes, rng)
    others = other_cases(rng)
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("# Generated by make_cases.py: NAME [refused]\n")
        for name in list(CASES) + others:
            f.write(name + "\n")
        for name in REFUSED:
            f.write(name + " refused\n")


if __name__ == "__main__":
    main()
