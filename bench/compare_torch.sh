#!/usr/bin/env bash
# compare_torch.sh [--build DIR] [--threads "1 2"] [--rounds 3] [--iters 20] [--only NAME]
#
# Training step time of kiln (reference and oneDNN backends, `kiln bench SPEC --train`) and PyTorch 1.13
# (bench/torch_step_time.py on kiln's ONNX export of the same models: same layers and initial weights) side by
# side in one run, on the seed models of issue 14: mnist_cnn at batch 64 and 128, cifar_cnn at 32, fashion_cnn at
# 64, dcgan (one discriminator + one generator step) at 64, mlp_gan at 64, each on 1 and 2 threads. Rounds
# interleave the three; the table shows the medians over rounds (each round's figure is the median of --iters
# steps after warm-up) and the ratio kiln-dnnl / PyTorch (below 1: kiln is faster), then the geometric mean of
# the ratios. The CPU and oneDNN's instruction set head the output. Markdown on stdout, progress on stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build THREADS="1 2" ROUNDS=3 ITERS=20 ONLY=
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "compare_torch.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
KILN=$BUILD/kiln PY=${PYTHON:-/usr/bin/python3}
[ -x "$KILN" ] || { echo "compare_torch.sh: no $KILN (build first)" >&2; exit 1; }
"$PY" -c "import torch, onnx" 2>/dev/null || {
    echo "compare_torch.sh: $PY lacks torch or onnx (scripts/install-deps.sh --with-peers installs them)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# kiln is copied: a rebuild during the run must not change what is measured
cp "$KILN" "$TMP/kiln"
KILN=$TMP/kiln
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
json_median() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%s=%.4f" % (r["backend"], r["median_ms"]) for r in d["results"]))'; }

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores; $("$KILN" bench "$ROOT/models/mnist_cnn.kiln" --train --backend dnnl --iters 1 --warmup 0 2>/dev/null | grep '^instruction sets')"
echo "PyTorch $("$PY" -c 'import torch; print(torch.__version__)'); kiln ref, kiln dnnl and PyTorch interleaved, $ROUNDS rounds of $ITERS steps"
echo
echo "| model | batch | threads | kiln ref ms | kiln dnnl ms | PyTorch ms | dnnl / PyTorch |"
echo "|---|---:|---:|---:|---:|---:|---:|"
ratios=()
for row in "mnist_cnn 64" "mnist_cnn 128" "cifar_cnn 32" "fashion_cnn 64" "dcgan 64" "mlp_gan 64"; do
    set -- $row
    name=$1 batch=$2 spec=$ROOT/models/$1.kiln
    [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
    recipe=$("$KILN" compile "$spec")
    torch_args=()
    if grep -q '^model generator' "$spec"; then
        for m in generator discriminator; do "$KILN" compile "$spec" --model $m -o "$TMP/$name.$m.onnx" > /dev/null; done
        torch_args=(--generator "$TMP/$name.generator.onnx" --discriminator "$TMP/$name.discriminator.onnx")
    else
        "$KILN" compile "$spec" -o "$TMP/$name.onnx" > /dev/null
        opt=$(printf '%s\n' "$recipe" | sed -n 's/^ *optimizer: //p' | head -n 1)
        lr=$(printf '%s\n' "$opt" | sed -n 's/.*learning_rate=\([0-9.e-]*\).*/\1/p')
        case $opt in
        adam*) torch_args=(--classifier "$TMP/$name.onnx" --optimizer adam --lr "${lr:-0.001}") ;;
        momentum*) torch_args=(--classifier "$TMP/$name.onnx" --optimizer momentum --lr "${lr:-0.01}"
                               --momentum "$(printf '%s\n' "$opt" | sed -n 's/.*momentum=\([0-9.]*\).*/\1/p')") ;;
        *) torch_args=(--classifier "$TMP/$name.onnx" --optimizer sgd --lr "${lr:-0.01}") ;;
        esac
    fi
    for t in $THREADS; do
        ref=() dnnl=() pt=()
        for r in $(seq "$ROUNDS"); do
            echo "compare_torch: $name batch $batch threads $t round $r/$ROUNDS" >&2
            line=$("$KILN" bench "$spec" --train --batch "$batch" --threads "$t" --backend ref,dnnl --iters "$ITERS" \
                   --warmup 3 --json | json_median)
            for kv in $line; do
                case $kv in ref=*) ref+=("${kv#ref=}") ;; dnnl=*) dnnl+=("${kv#dnnl=}") ;; esac
            done
            pt+=("$("$PY" "$ROOT/bench/torch_step_time.py" "${torch_args[@]}" --batch "$batch" --threads "$t" \
                   --steps "$ITERS" --warmup 3 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
        done
        mr=$(median "${ref[@]}") md=$(median "${dnnl[@]}") mp=$(median "${pt[@]}")
        ratio=$(awk -v a="$md" -v b="$mp" 'BEGIN {printf "%.2f", a / b}')
        ratios+=("$ratio")
        printf '| %s | %d | %d | %.1f | %.1f | %.1f | %s |\n' "$name" "$batch" "$t" "$mr" "$md" "$mp" "$ratio"
    done
done
printf '%s\n' "${ratios[@]}" | awk '{s += log($1); n++} END {if (n) printf "\ngeometric mean of dnnl / PyTorch: %.2f over %d rows\n", exp(s / n), n}'
