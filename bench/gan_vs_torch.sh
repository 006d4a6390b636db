#!/usr/bin/env bash
# gan_vs_torch.sh [--build DIR] [--threads 2] [--batch 64] [--rounds 3] [--data DIR] SPEC.kiln...
#
# Time of one GAN training step (discriminator step + generator step) in kiln and in PyTorch 1.13, side by
# side in one run, for the GAN specs of models/ (mlp_gan.kiln, dcgan.kiln). kiln: `kiln train SPEC --limit
# 10*batch --epochs 2 --no-eval` on --data (default: the spec's dataset), the second epoch's ms/step (the first
# includes compiling the step graphs). PyTorch: bench/torch_gan_time.py on the same models (kiln's ONNX export
# rebuilt by scripts/onnx_to_torch.py: same layers and initial weights), float32, torch.optim.Adam, median of
# 20 steps after 3. Rounds interleave kiln and PyTorch; the table shows the medians over rounds and the ratio
# kiln/PyTorch (below 1: kiln is faster). Markdown on stdout, progress on stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build THREADS=2 BATCH=64 ROUNDS=3 DATA=
SPECS=()
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) SPECS+=("$1"); shift ;;
    esac
done
[ ${#SPECS[@]} -gt 0 ] || SPECS=("$ROOT/models/mlp_gan.kiln" "$ROOT/models/dcgan.kiln")
KILN=$BUILD/kiln PY=${PYTHON:-/usr/bin/python3}
[ -x "$KILN" ] || { echo "gan_vs_torch.sh: no $KILN (build first)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "| model | batch | threads | kiln ms/step | PyTorch ms/step | kiln/PyTorch |"
echo "|---|---:|---:|---:|---:|---:|"
for spec in "${SPECS[@]}"; do
    name=$(basename "$spec" .kiln)
    for m in generator discriminator; do
        "$KILN" compile "$spec" --model $m --emit onnx -o "$TMP/$name.$m.onnx" > /dev/null
    done
    data=()
    [ -z "$DATA" ] || data=(--data "$DATA")
    k=() t=()
    for r in $(seq "$ROUNDS"); do
        echo "gan_vs_torch.sh: $name round $r/$ROUNDS" >&2
        line=$(OMP_NUM_THREADS=$THREADS "$KILN" train "$spec" "${data[@]}" --limit $((10 * BATCH)) --epochs 2 \
               --batch-size "$BATCH" --threads "$THREADS" --no-eval | grep '^epoch 2/2')
        k+=("$(echo "$line" | sed -n 's/.*(\([0-9.]*\) ms\/step).*/\1/p')")
        t+=("$("$PY" "$ROOT/bench/torch_gan_time.py" --generator "$TMP/$name.generator.onnx" \
               --discriminator "$TMP/$name.discriminator.onnx" --batch "$BATCH" --threads "$THREADS" |
               "$PY" -c 'import json, sys; print(json.load(sys.stdin)["median_ms"])')")
    done
    km=$(median "${k[@]}") tm=$(median "${t[@]}")
    printf '| %s | %d | %d | %.1f | %.1f | %.2f |\n' "$name" "$BATCH" "$THREADS" "$km" "$tm" \
        "$(awk -v a="$km" -v b="$tm" 'BEGIN { print a / b }')"
done
echo
echo "CPU: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo); $(nproc) cores; kiln ref backend" \
     "(training runs on it); PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), float32;" \
     "1-minute load average at the end: $(cut -d' ' -f1 /proc/loadavg)."
