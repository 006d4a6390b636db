#!/usr/bin/python3
"""Write the small ONNX models the CLI tests use (run once; the output is committed).
Broken models come from tests/data/onnx/ (the importer's fixtures).

  logits.onnx: "logits/out" = MatMul(X [N,4], W) + B with B = [0, 1, 2]: raw
  scores (not probabilities); the output name has a '/' in it.
  two_inputs.onnx: Y = Add(A, B), A and B float32 [N,3].
  empty_rows.onnx: Y = Relu(X), X float32 [0,3]: a fixed, empty leading dimension.

Usage: /usr/bin/python3 tests/cli/make_models.py   (needs python3-onnx)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def logits():
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("logits/out", TensorProto.FLOAT, ["batch", 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "W")
    b = numpy_helper.from_array(np.array([0, 1, 2], dtype=np.float32), "B")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["XW"], name="matmul"),
             helper.make_node("Add", ["XW", "B"], ["logits/out"], name="add")]
    graph = helper.make_graph(nodes, "logits", [x], [y], initializer=[w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="kiln tests")


def two_inputs():
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, ["batch", 3])
    b = helper.make_tensor_value_info("B", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])
    nodes = [helper.make_node("Add", ["A", "B"], ["Y"], name="add")]
    graph = helper.make_graph(nodes, "two_inputs", [a, b], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="kiln tests")


def empty_rows():
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [0, 3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [0, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"], name="relu")], "empty_rows", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="kiln tests")


def main():
    for name, fn in [("logits", logits), ("two_inputs", two_inputs), ("empty_rows", empty_rows)]:
        model = fn()
        onnx.checker.check_model(model)
        path = os.path.join(HERE, name + ".onnx")
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        print("wrote", path)


if __name__ == "__main__":
    main()
