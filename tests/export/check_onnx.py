#!/usr/bin/python3
"""check_onnx.py FILE_OR_DIR ... - run onnx.checker.check_model (full_check:
with ONNX shape inference) on ONNX files that kiln exported, and require
producer "kiln" and opset 13 of the default domain (14 only for the models
that do arithmetic on 8-bit integers, which opset 13 lacks, 16 for those with
a ScatterND reduction and 17 for models with LayerNormalization; listed).

A model whose only problem is a graph output without a shape (kiln could not
infer it: its shape depends on a run-time input) is counted as unchecked, not
failed; every other checker error fails. Prints one line per failure and a
summary; exit status 0 when nothing failed. Without the onnx module, prints
"KILN_SKIP: ..." and exits 0.
"""
import os
import sys

try:
    import onnx
except ImportError:
    print("KILN_SKIP: python3 module onnx not found (install python3-onnx)")
    sys.exit(0)

MISSING_SHAPE = "Field 'shape' of 'type' is required but missing"


def files(args):
    for a in args:
        if os.path.isdir(a):
            for name in sorted(os.listdir(a)):
                if name.endswith(".onnx"):
                    yield os.path.join(a, name)
        else:
            yield a


def main():
    if len(sys.argv) < 2:
        print("usage: check_onnx.py FILE_OR_DIR ...", file=sys.stderr)
        return 2
    ok = failed = unchecked = 0
    for path in files(sys.argv[1:]):
        try:
            model = onnx.load(path)
            opsets = {o.domain: o.version for o in model.opset_import}
            opset = opsets.get("", None)
            if opset not in (13, 14, 16, 17) or model.producer_name != "kiln":
                raise ValueError("opset %s, producer %r; expected opset 13 (14, 16, 17) and producer 'kiln'"
                                 % (opsets, model.producer_name))
            if opset == 14:
                print("%s: opset 14 (8-bit integer arithmetic)" % path)
            if opset == 16:
                if not any(n.op_type == "ScatterND" and any(a.name == "reduction" for a in n.attribute)
                           for n in model.graph.node):
                    raise ValueError("opset 16 without a ScatterND reduction")
                print("%s: opset 16 (ScatterND reduction)" % path)
            if opset == 17:
                if not any(n.op_type == "LayerNormalization" for n in model.graph.node):
                    raise ValueError("opset 17 without a LayerNormalization")
                print("%s: opset 17 (LayerNormalization)" % path)
            onnx.checker.check_model(model, full_check=True)
            ok += 1
        except Exception as e:  # the checker raises several exception types
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            shapeless = [o.name for o in model.graph.output
                         if not o.type.tensor_type.HasField("shape")] if "model" in locals() else []
            if MISSING_SHAPE in text and shapeless:
                unchecked += 1
                print("%s: unchecked: output %s has no shape (kiln could not infer it)"
                      % (path, ", ".join(shapeless)))
            else:
                failed += 1
                print("%s: FAIL: %s" % (path, text))
        finally:
            model = None
    print("onnx.checker (onnx %s): %d passed, %d failed, %d unchecked" % (onnx.__version__, ok, failed, unchecked))
    return 1 if failed or ok == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
