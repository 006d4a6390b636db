#!/bin/sh
# train_vs_torch.sh - `kiln train` and PyTorch 1.13 side by side: the same model (kiln's seeded initial weights,
# through ONNX), the same recipe (read from the spec: batch size, epochs, Adam's parameters, augment = shift(N),
# schedule = cosine(final=F)), the same data and threads, one after the other on this machine.
#
# usage: bench/train_vs_torch.sh SPEC.kiln --data DIR [--epochs N] [--threads T] [--limit N] [--seed S]
#                                [--build DIR] [--python PY] [--keep DIR]
#
# Prints a Markdown table, one row per epoch (wall time of the epoch's training, ms per step = that time over
# the steps, training loss, test accuracy, for kiln and PyTorch), then the medians over the epochs and the
# kiln/PyTorch ratios, the final test accuracies, and the memory: kiln's peak RSS with its planned training
# arena and persistent bytes, PyTorch's peak RSS. The logs stay in --keep DIR (default: a temporary directory,
# removed). Only Adam recipes are supported on the PyTorch side (bench/torch_train.py).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
python=/usr/bin/python3
spec= data= epochs= threads=2 limit= seed=0 keep=
while [ $# -gt 0 ]; do
    case $1 in
    --data) data=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "train_vs_torch.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) spec=$1; shift ;;
    esac
done
[ -n "$spec" ] && [ -n "$data" ] || { echo "usage: bench/train_vs_torch.sh SPEC.kiln --data DIR [...] (see --help)" >&2; exit 2; }
kiln=$build/kiln
[ -x "$kiln" ] || { echo "train_vs_torch.sh: no kiln binary at $kiln (build first, or --build DIR)" >&2; exit 1; }
"$python" -c "import torch, onnx" 2>/dev/null || {
    echo "train_vs_torch.sh: $python lacks torch or onnx (scripts/install-deps.sh --with-peers installs them)" >&2; exit 1; }

if [ -n "$keep" ]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi

# the recipe, as kiln reads it
"$kiln" compile "$spec" > "$work/recipe.txt"
"$kiln" compile "$spec" -o "$work/untrained.onnx" > /dev/null
field() { sed -n "s/^  $1: *//p" "$work/recipe.txt" | head -n 1; }
batch=$(field "batch size")
[ -n "$epochs" ] || epochs=$(field epochs)
opt=$(sed -n 's/^ *optimizer: //p' "$work/recipe.txt" | head -n 1)
case $opt in
adam\(*) ;;
*) echo "train_vs_torch.sh: the spec's optimizer is $opt; bench/torch_train.py runs Adam recipes only" >&2; exit 1 ;;
esac
arg() { printf '%s\n' "$opt" | sed -n "s/.*$1=\([^,)]*\).*/\1/p"; }
torch_args="--lr $(arg learning_rate) --beta1 $(arg beta_1) --beta2 $(arg beta_2) --epsilon $(arg epsilon)"
wd=$(arg weight_decay)
[ -z "$wd" ] || [ "$wd" = 0 ] || { echo "train_vs_torch.sh: weight decay is not in bench/torch_train.py" >&2; exit 1; }
shift_px=$(field augment | sed -n 's/shift(\([0-9]*\))/\1/p')
[ -z "$shift_px" ] || torch_args="$torch_args --shift $shift_px"
final=$(field schedule | sed -n 's/cosine(final=\(.*\))/\1/p')
[ -z "$final" ] || torch_args="$torch_args --cosine --cosine-final $final"
limit_args=
[ -z "$limit" ] || limit_args="--limit $limit"

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
echo "train_vs_torch: $spec on $data, batch $batch, $epochs epochs, $threads threads, $cpu" >&2
echo "  recipe: $opt${shift_px:+, shift($shift_px)}${final:+, cosine(final=$final)}" >&2
echo "  kiln train ..." >&2
OMP_NUM_THREADS=$threads "$kiln" train "$spec" --data "$data" --epochs "$epochs" --threads "$threads" --seed "$seed" \
    $limit_args > "$work/kiln.log"
echo "  PyTorch ..." >&2
# shellcheck disable=SC2086
OMP_NUM_THREADS=$threads "$python" "$here/torch_train.py" --onnx "$work/untrained.onnx" --data "$data" \
    --epochs "$epochs" --batch "$batch" --threads "$threads" --seed "$seed" $torch_args $limit_args > "$work/torch.log"

# epoch lines: kiln "epoch 3/12 - 9.0 s (143.1 ms/step) - loss 0.28 - ... - test_accuracy 0.9685"
#              torch "epoch 3/12 - 8.1 s (120.0 ms/step median) - loss 0.28 - test_accuracy 0.9680"
steps=$(sed -n 's/.*samples, \([0-9]*\) batches of.*/\1/p' "$work/kiln.log")
"$python" - "$work/kiln.log" "$work/torch.log" "$steps" <<'EOF'
import re, statistics, sys
def epochs(path):
    rows = []
    for line in open(path):
        m = re.match(r"epoch (\d+)/\d+ - ([\d.]+) s .*?- loss ([\d.]+).*test_accuracy ([\d.]+)", line)
        if m:
            rows.append((int(m[1]), float(m[2]), float(m[3]), float(m[4])))
    return rows
k, t, steps = epochs(sys.argv[1]), epochs(sys.argv[2]), int(sys.argv[3])
text = open(sys.argv[1]).read() + open(sys.argv[2]).read()
print("| epoch | kiln s | PyTorch s | kiln ms/step | PyTorch ms/step | kiln loss | PyTorch loss "
      "| kiln test acc | PyTorch test acc |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for a, b in zip(k, t):
    print(f"| {a[0]} | {a[1]:.1f} | {b[1]:.1f} | {a[1] / steps * 1e3:.1f} | {b[1] / steps * 1e3:.1f} "
          f"| {a[2]:.4f} | {b[2]:.4f} | {a[3]:.4f} | {b[3]:.4f} |")
if k and t:
    mk, mt = statistics.median(r[1] for r in k), statistics.median(r[1] for r in t)
    print(f"\nmedian epoch: kiln {mk:.1f} s, PyTorch {mt:.1f} s, kiln/PyTorch {mk / mt:.2f}; "
          f"per step: kiln {mk / steps * 1e3:.1f} ms, PyTorch {mt / steps * 1e3:.1f} ms ({steps} steps per epoch)")
    print(f"final test accuracy: kiln {k[-1][3]:.4f}, PyTorch {t[-1][3]:.4f}")
for line in text.splitlines():
    if line.startswith("peak RSS") or line.startswith("weights hash"):
        print(("kiln: " if "planned" in line or "hash" in line else "PyTorch: ") + line)
    elif line.startswith("torch "):
        print(line)
EOF
