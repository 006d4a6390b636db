#!/usr/bin/env bash
# gan_quality.sh GENERATOR CLASSIFIER [options] - how many of a GAN's samples a
# digit classifier recognises with confidence (issue 13's quality figure).
#
#   GENERATOR    the trained generator: an .onnx file (`kiln train SPEC -o DIR`
#                writes DIR/generator.onnx) or a model of a .kiln file
#   CLASSIFIER   a classifier of 1x28x28 images in [0, 1] with softmax outputs,
#                e.g. the mnist_cnn `kiln train models/mnist_cnn.kiln -o FILE`
#                writes
# options:
#   --count N        samples (default 1000)
#   --seed N         the noise's seed (default 1)
#   --threshold P    the confidence that counts as recognised (default 0.9)
#   --backend NAME   kiln backend for sampling and classifying (default ref)
#   --model NAME     the generator's model in a .kiln file
#   --kiln PATH      the kiln binary (default: build/kiln)
#
# Draws N samples with `kiln sample`, maps tanh outputs from [-1, 1] to [0, 1],
# classifies them with `kiln run --output`, and prints one line: the share
# whose top class has probability >= P, the median top probability, and the
# count of samples per class (a collapsed GAN shows as a few classes). Needs
# numpy (/usr/bin/python3 with python3-numpy, installed with the peers).
set -euo pipefail

usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

here=$(cd "$(dirname "$0")/.." && pwd)
kiln="$here/build/kiln"
count=1000 seed=1 threshold=0.9 backend=ref model=()
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h|--help) usage 0 ;;
    --count) count=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --threshold) threshold=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --model) model=(--model "$2"); shift 2 ;;
    --kiln) kiln=$2; shift 2 ;;
    -*) echo "gan_quality.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
    *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -eq 2 ] || { echo "gan_quality.sh: GENERATOR and CLASSIFIER are required" >&2; usage 2 >&2; }
gen=${args[0]} cls=${args[1]}
for f in "$gen" "$cls"; do
    [ -f "$f" ] || { echo "gan_quality.sh: $f: no such file" >&2; exit 2; }
done
[ -x "$kiln" ] || { echo "gan_quality.sh: $kiln: not built (cmake --build build)" >&2; exit 2; }
py=/usr/bin/python3
"$py" -c 'import numpy' 2>/dev/null || { echo "gan_quality.sh: $py has no numpy (apt-get install python3-numpy)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$kiln" sample "$gen" "${model[@]}" --count "$count" --seed "$seed" --backend "$backend" -o "$tmp/s" > /dev/null
"$py" - "$tmp/s" <<'PY'
import sys, numpy as np
d = sys.argv[1]
x = np.load(d + "/samples.npy").astype(np.float32)
if x.min() < 0:                       # tanh output: [-1, 1] -> [0, 1]
    x = (x + 1) / 2
np.save(d + "/samples01.npy", np.clip(x, 0, 1).reshape(len(x), 1, 28, 28))
PY
input=$("$kiln" info "$cls" 2>/dev/null | awk '/^inputs/ {getline; print $1; exit}')
"$kiln" run "$cls" --backend "$backend" --input "${input:-image}=$tmp/s/samples01.npy" --output "$tmp/c" --top 0 > /dev/null
"$py" - "$tmp/c" "$threshold" "$gen" <<'PY'
import sys, glob, numpy as np
p = np.load(sorted(glob.glob(sys.argv[1] + "/*.npy"))[0]).reshape(-1, 10)
t = float(sys.argv[2])
conf = p.max(1)
print(f"{sys.argv[3]}: {len(p)} samples; share with top probability >= {t:g}: {np.mean(conf >= t):.1%}; "
      f"median top probability {np.median(conf):.3f}; per class {np.bincount(p.argmax(1), minlength=10).tolist()}")
PY
