#!/usr/bin/python3
"""Regenerate tests/onnx_node_tests.txt: the ONNX node tests kiln can import.

Reads the op names from ir/ops.def and every model.onnx under the ONNX node
test data (Debian package libonnx-testdata), and keeps the tests whose every
node (default ONNX domain, no subgraphs) has an op_type that kiln implements.
`Constant` is also accepted: the importer turns it into a constant value;
so is `Einsum`, which it lowers to kiln ops.

The list is committed so that configuring kiln needs no Python; CMake reads
it (tests/onnx_node.cmake) and registers one ctest case per line. Tests that
kiln is expected to refuse cleanly are listed, with the reason, in
tests/onnx_node_expected_failures.txt (maintained by hand); this script
prints the listed tests whose inputs or outputs are not float32/int64 to
help keep that file current.

It also writes tests/onnx_node_refused.txt: every test it leaves out,
grouped by the family of its unsupported ops, each family with the reason
(FAMILIES below, maintained by hand: an op missing from it makes --check
fail, so every refusal has a stated reason).

With --check, nothing is written: the script exits 1 when the committed
lists differ from what it would write (the ctest case onnx_node.list_current
runs this, so a new op in ops.def is not silently left untested).

Usage: /usr/bin/python3 scripts/list_node_tests.py [--data DIR] [--out FILE] [--check]
Needs: python3-onnx, libonnx-testdata.
"""
import argparse
import os
import re
import sys

import onnx

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EXTRA_OPS = {"Constant",   # folded into constant values at import
             "Einsum"}     # lowered at import to Transpose/Unsqueeze/MatMul/ReduceSum (frontend/onnx_einsum.c)

# Why kiln refuses each op it lacks, by family: (family, reason, ops).
FAMILIES = [
    ("training ops", "out of scope (issue 17): losses and optimizer steps are kiln's own training ops, "
     "built from a .kiln train block, not imported",
     ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "Momentum", "Adagrad", "Adam"]),
    ("control flow", "out of scope: subgraphs; kiln compiles static graphs", ["Loop", "If", "Scan"]),
    ("sequences and optionals", "out of scope: kiln graphs carry tensors only",
     ["SequenceMap", "SequenceEmpty", "SequenceLength", "SequenceInsert", "OptionalGetElement",
      "OptionalHasElement"]),
    ("strings", "out of scope: no string dtype", ["StringNormalizer", "TfIdfVectorizer"]),
    ("quantization", "out of scope: kiln runs float32 (and integer tensors for indices and shapes)",
     ["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger",
      "QLinearMatMul", "QLinearConv"]),
    ("random generators", "not implemented: their outputs cannot match the test's draws",
     ["Bernoulli", "RandomUniformLike", "RandomNormalLike", "RandomUniform", "RandomNormal", "Multinomial"]),
    ("recurrent layers", "not implemented yet (no vision classifier, segmenter or ViT exports them)",
     ["GRU", "LSTM", "RNN"]),
    ("data-dependent shapes", "not implemented: the output's shape depends on the data, and kiln plans "
     "memory from static shapes", ["NonZero", "Unique", "Compress", "NonMaxSuppression"]),
    ("gather/scatter and indexing", "not implemented yet",
     ["GatherElements", "ScatterElements", "ScatterND", "Scatter", "TopK", "OneHot", "Trilu",
      "CumSum", "ReverseSequence", "EyeLike", "MaxUnpool"]),
    ("shape helpers", "not implemented yet: Size (an element count) and CastLike (Cast to another input's dtype)",
     ["Size", "CastLike"]),
    ("detection and sampling", "not implemented yet", ["RoiAlign", "GridSample"]),
    ("signal processing", "not implemented: out of the vision models issue 17 targets",
     ["DFT", "STFT", "BlackmanWindow", "HammingWindow", "HannWindow", "MelWeightMatrix"]),
    ("more element-wise math", "not implemented yet: no vision exporter emits them",
     ["Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cosh", "Sinh", "Tan", "IsInf", "IsNaN", "Shrink",
      "Hardmax", "BitShift", "Det", "MeanVarianceNormalization"]),
    ("old opset forms", "refused: the opset form of this op that the test uses is not imported (e.g. Upsample-10, "
     "deprecated)", ["Upsample"]),
]


def kiln_ops(ops_def):
    names = set()
    with open(ops_def, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\s*KN_OP\(\s*\w+\s*,\s*"(\w+)"', line)
            if m:
                names.add(m.group(1))
    if not names:
        raise SystemExit(f"{ops_def}: no KN_OP rows found")
    return names | EXTRA_OPS


def has_subgraph(node):
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def elem_types(model):
    types = set()
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.type.HasField("tensor_type"):
            types.add(onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type))
        else:
            types.add("non-tensor")
    return types


def refusals(refused, kept):
    """The text of tests/onnx_node_refused.txt and the set of ops no family names."""
    family_of = {op: i for i, (_, _, fops) in enumerate(FAMILIES) for op in fops}
    unclassified = {op for ops_ in refused.values() for op in ops_ if op not in family_of}
    groups = {}
    for test, ops_ in refused.items():
        fam = min(family_of.get(op, len(FAMILIES)) for op in ops_)
        groups.setdefault(fam, []).append((test, ops_))
    total = len(refused) + len(kept)
    lines = ["# Generated by scripts/list_node_tests.py from libonnx-testdata and ir/ops.def; do not edit.",
             f"# The ONNX node tests kiln refuses for an op it lacks: {len(refused)} of {total}, by the family",
             "# of their first unsupported op, each with the reason (FAMILIES in the script). The tests kiln",
             "# imports are in tests/onnx_node_tests.txt (their deliberate refusals, with reasons, in",
             "# tests/onnx_node_expected_failures.txt).", ""]
    for fam in sorted(groups):
        name, reason, _ = FAMILIES[fam] if fam < len(FAMILIES) else ("unclassified", "no reason given yet", [])
        tests = sorted(groups[fam])
        lines.append(f"## {name}: {len(tests)} tests; {reason}")
        lines += [f"{t}  {' '.join(o)}" for t, o in tests]
        lines.append("")
    return "\n".join(lines), unclassified


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/libonnx-testdata/data/node")
    ap.add_argument("--ops", default=os.path.join(ROOT, "ir", "ops.def"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "onnx_node_tests.txt"))
    ap.add_argument("--check", action="store_true", help="only check that --out is current")
    args = ap.parse_args()

    ops = kiln_ops(args.ops)
    kept, odd = [], []
    refused = {}   # test -> its unsupported ops
    for name in sorted(os.listdir(args.data)):
        path = os.path.join(args.data, name, "model.onnx")
        if not os.path.isfile(path):
            continue
        model = onnx.load(path)
        nodes = model.graph.node
        if not nodes:
            continue
        missing = sorted({n.op_type for n in nodes
                          if n.domain not in ("", "ai.onnx") or n.op_type not in ops or has_subgraph(n)})
        if missing:
            refused[name] = missing
        if all(n.domain in ("", "ai.onnx") and n.op_type in ops and not has_subgraph(n) for n in nodes):
            kept.append(name)
            types = elem_types(model) - {"FLOAT", "INT64"}
            if types:
                odd.append((name, sorted(types)))

    text = ("# Generated by scripts/list_node_tests.py from libonnx-testdata and ir/ops.def;\n"
            "# do not edit. One ONNX node test directory name per line.\n"
            + "".join(name + "\n" for name in kept))
    refused_text, unclassified = refusals(refused, kept)
    refused_out = os.path.join(os.path.dirname(args.out), "onnx_node_refused.txt")
    if unclassified:
        print(f"ops without a family and reason in FAMILIES (scripts/list_node_tests.py): {sorted(unclassified)}")
        return 1
    if args.check:
        try:
            with open(refused_out, encoding="utf-8") as f:
                if f.read() != refused_text:
                    print(f"{refused_out} is out of date (run scripts/list_node_tests.py)")
                    return 1
        except OSError:
            print(f"{refused_out} is missing (run scripts/list_node_tests.py)")
            return 1
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            old = {l for l in current.splitlines() if l.startswith("test_")}
            added, removed = sorted(set(kept) - old), sorted(old - set(kept))
            print(f"{args.out} is out of date (run scripts/list_node_tests.py): "
                  f"{len(added)} tests to add {added[:20]}, {len(removed)} to remove {removed[:20]}")
            return 1
        print(f"{args.out} is current ({len(kept)} tests)")
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    with open(refused_out, "w", encoding="utf-8") as f:
        f.write(refused_text)
    print(f"{len(kept)} node tests use only kiln ops; wrote {os.path.relpath(args.out)}")
    if odd:
        print("tests with inputs/outputs other than float32/int64 (candidates for "
              "tests/onnx_node_expected_failures.txt):")
        for name, types in odd:
            print(f"  {name}: {', '.join(types)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
