#!/usr/bin/env bash
# memory_table.sh [BUILD_DIR] - node counts, memory plans and peak memory of
# kiln against ONNX Runtime, as a Markdown table on standard output.
#
# For every classifier of the model cache (BUILD_DIR/models, written by the
# models.setup test; or KILN_MODELS_DIR), models/mnist_small.onnx and every
# models/*.kiln it prints:
#   - the live node count before and after the optimization passes (the
#     "passes:" line of `kiln run --explain`),
#   - the arena of the memory plan at batch 1 (planned peak), its lower bound
#     and the naive sum of every intermediate (`kiln info --memory`),
#   - the peak RSS of `kiln run` on one image (/usr/bin/time), and of ONNX
#     Runtime (scripts/ort_reference.js, CPU, 2 threads) on the same model
#     and input; a .kiln model is exported with `kiln compile -o` for it.
# The RSS of node with onnxruntime-node loaded and nothing run is printed
# below the table as the baseline of the ORT column.
#
# Needs: BUILD_DIR/kiln, /usr/bin/time, python3; node and onnxruntime-node in
# BUILD_DIR/ort (scripts/setup_ort.sh) or KILN_ORT_DIR for the ORT column.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
KILN=$BUILD/kiln
MODELS=${KILN_MODELS_DIR:-$BUILD/models}
ORT=${KILN_ORT_DIR:-$BUILD/ort}
[ -x "$KILN" ] || { echo "memory_table.sh: no $KILN (build first)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
HAVE_ORT=0
if command -v node >/dev/null && [ -d "$ORT/node_modules/onnxruntime-node" ]; then
    HAVE_ORT=1
    ORT=$(cd "$ORT" && pwd)
fi

# Peak RSS in MiB of a command (its output discarded); "-" when it fails.
rss() {
    if /usr/bin/time -f '%M' -o "$TMP/rss" "$@" >"$TMP/out" 2>&1; then
        awk '{printf "%.1f MiB", $1 / 1024}' "$TMP/rss"
    else
        echo "- (failed: $(tail -1 "$TMP/out" | cut -c1-60))"
    fi
}

# Random float32 .npy of shape $2 (comma-separated) into $1.
make_npy() {
    python3 - "$1" "$2" <<'PY'
import random, struct, sys
path, dims = sys.argv[1], [int(d) for d in sys.argv[2].split(',')]
n = 1
for d in dims:
    n *= d
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
    ''.join('%d, ' % d for d in dims) if len(dims) == 1 else ', '.join(str(d) for d in dims))
header += ' ' * ((64 - (10 + len(header) + 1) % 64) % 64) + '\n'
rng = random.Random(1)
with open(path, 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode('latin1'))
    f.write(struct.pack('<%df' % n, *[rng.uniform(-1, 1) for _ in range(n)]))
PY
}

# One table row: model file, input name, input .npy, ONNX file for ORT (or "").
row() {
    local model=$1 input=$2 npy=$3 onnx=$4 name
    name=$(basename "$model")
    local nodes mem arena bound naive krss orss
    nodes=$("$KILN" run "$model" --input "$input=$npy" --top 0 --explain 2>&1 >/dev/null |
            sed -n 's/^passes: \([0-9]*\) nodes before, \([0-9]*\) after$/\1 → \2/p' | tail -1)
    mem=$("$KILN" info "$model" --memory 2>/dev/null)
    arena=$(printf '%s\n' "$mem" | sed -n 's/^  arena (planned peak) *\([0-9.]* [KMG]*i*B\).*/\1/p')
    bound=$(printf '%s\n' "$mem" | sed -n 's/^  lower bound *\([0-9.]* [KMG]*i*B\).*/\1/p')
    naive=$(printf '%s\n' "$mem" | sed -n 's/^  naive sum *\([0-9.]* [KMG]*i*B\).*/\1/p')
    krss=$(rss "$KILN" run "$model" --input "$input=$npy" --top 0)
    orss="-"
    if [ "$HAVE_ORT" = 1 ] && [ -n "$onnx" ]; then
        orss=$(rss node "$ROOT/scripts/ort_reference.js" --ort "$ORT" --model "$onnx" \
               --input "$input=$npy" --out-dir "$TMP/ort")
    fi
    echo "| $name | ${nodes:--} | ${arena:--} | ${bound:--} | ${naive:--} | $krss | $orss |"
}

echo "| model | nodes before → after | arena (peak) | bound | naive sum | kiln run RSS | ONNX Runtime RSS |"
echo "|---|---|---|---|---|---|---|"
if [ -f "$MODELS/manifest.txt" ]; then
    while read -r name input output h w; do
        [ -f "$MODELS/$name.onnx" ] || continue
        make_npy "$TMP/$name.npy" "1,3,$h,$w"
        row "$MODELS/$name.onnx" "$input" "$TMP/$name.npy" "$MODELS/$name.onnx"
    done < "$MODELS/manifest.txt"
else
    echo "memory_table.sh: no classifier cache in $MODELS (run the models.setup test)" >&2
fi
row "$ROOT/models/mnist_small.onnx" image "$ROOT/models/data/digit_7.npy" "$ROOT/models/mnist_small.onnx"
for spec in "$ROOT"/models/*.kiln; do
    base=$(basename "$spec" .kiln)
    # the input: "  NAME  float32  [N,d1,...]" under "inputs (1):"
    line=$("$KILN" info "$spec" | sed -n '/^inputs/{n;p}')
    input=$(echo "$line" | awk '{print $1}')
    dims=$(echo "$line" | awk '{print $3}' | tr -d '[]' | sed 's/^N/1/')
    make_npy "$TMP/$base.npy" "$dims"
    onnx="$TMP/$base.onnx"
    if ! "$KILN" compile "$spec" -o "$onnx" >/dev/null 2>"$TMP/err"; then
        first=$(sed -n 's/.*models (\([^,)]*\).*/\1/p' "$TMP/err")
        "$KILN" compile "$spec" --model "$first" -o "$onnx" >/dev/null 2>&1 || onnx=""
    fi
    row "$spec" "$input" "$TMP/$base.npy" "$onnx"
done
if [ "$HAVE_ORT" = 1 ]; then
    echo
    echo "ORT baseline (node with onnxruntime-node loaded, nothing run): $(rss node -e "require('$ORT/node_modules/onnxruntime-node')")"
fi
