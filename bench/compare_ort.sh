#!/usr/bin/env bash
# compare_ort.sh [options] [MODEL ...] - kiln against ONNX Runtime, side by
# side, as a Markdown table on standard output (progress on stderr).
#
# For every model (default: the classifier set, BUILD/models/*.onnx, written
# by the models.setup ctest fixture, see tests/models.cmake), every batch
# size and thread count, it runs `kiln bench --json` and bench/ort_bench.js
# (onnxruntime-node, CPU execution provider, intraOpNumThreads = threads)
# with the same warm-up runs, timed runs and seeded random inputs of the same
# shapes, interleaved: kiln, ORT, kiln, ORT, ... (--rounds rounds per
# configuration), so that a slow spell of the machine hits both. Each round
# gives a median latency; the table shows the median over the rounds (the
# mean of the two middle ones for an even count), the ratio kiln/ORT (below
# 1: kiln is faster) and, per backend, the geometric mean of the ratios.
#
# Threads: OMP_WAIT_POLICY is set to passive unless already set (OpenMP
# threads that spin while OpenBLAS threads work halve throughput on a
# two-core machine); the value used is printed under the table. kiln gets
# --threads N (its OpenMP and OpenBLAS threads), ORT intraOpNumThreads N and
# one inter-op thread.
#
# options:
#   --build DIR      kiln build directory (default: build; KILN_BUILD)
#   --backend LIST   kiln backends, comma-separated (default: ref)
#   --batch "1 8"    batch sizes (space- or comma-separated)
#   --threads "1 2"  thread counts
#   --warmup W       untimed runs per round (default: 3)
#   --iters N        timed runs per round (default: 20)
#   --rounds R       kiln/ORT rounds per configuration (default: 2)
# MODELs are .onnx paths or names of BUILD/models/NAME.onnx.
#
# Needs: BUILD/kiln, node; onnxruntime-node in BUILD/ort (KILN_ORT_DIR),
# installed by scripts/setup_ort.sh when missing (npm registry access once).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KILN_BUILD:-$ROOT/build}
BACKENDS=ref
BATCHES="1 8"
THREADS="1 2"
WARMUP=3
ITERS=20
ROUNDS=2
MODELS=()
die() { echo "compare_ort.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --backend) BACKENDS=$2; shift 2 ;;
    --batch) BATCHES=${2//,/ }; shift 2 ;;
    --threads) THREADS=${2//,/ }; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) MODELS+=("$1"); shift ;;
    esac
done
BUILD=$(cd "$BUILD" && pwd) || die "no build directory"
KILN=$BUILD/kiln
MODEL_DIR=${KILN_MODELS_DIR:-$BUILD/models}
ORT=${KILN_ORT_DIR:-$BUILD/ort}
[ -x "$KILN" ] || die "no $KILN (build kiln first)"
command -v node >/dev/null || die "node is needed for ONNX Runtime (apt install nodejs npm)"
if [ ! -d "$ORT/node_modules/onnxruntime-node" ]; then
    echo "compare_ort.sh: installing onnxruntime-node into $ORT" >&2
    sh "$ROOT/scripts/setup_ort.sh" "$ORT" >&2
fi
if [ ${#MODELS[@]} -eq 0 ]; then
    for m in "$MODEL_DIR"/*.onnx; do [ -f "$m" ] && MODELS+=("$m"); done
    [ ${#MODELS[@]} -gt 0 ] ||
        die "no models in $MODEL_DIR (run: ctest --test-dir $BUILD -R models.setup)"
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# jq-like reading of one JSON file with node: jget FILE 'JS expression of d'
jget() { node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(eval(process.argv[2]))' "$1" "$2"; }
# median of numbers on the command line
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

ROWS=$TMP/rows
: > "$ROWS"
for model in "${MODELS[@]}"; do
    case $model in */*|*.onnx) ;; *) model=$MODEL_DIR/$model.onnx ;; esac
    [ -f "$model" ] || die "no model $model"
    name=$(basename "$model" .onnx)
    for backend in ${BACKENDS//,/ }; do
        for batch in $BATCHES; do
            for threads in $THREADS; do
                kiln_meds=() ort_meds=()
                for round in $(seq 1 "$ROUNDS"); do
                    echo "compare_ort.sh: $name $backend batch $batch threads $threads round $round/$ROUNDS" >&2
                    "$KILN" bench "$model" --backend "$backend" --batch "$batch" --threads "$threads" \
                        --warmup "$WARMUP" --iters "$ITERS" --json > "$TMP/kiln.json" ||
                        die "kiln bench failed on $model"
                    kiln_meds+=("$(jget "$TMP/kiln.json" 'd.results[0].median_ms')")
                    inputs=$(jget "$TMP/kiln.json" \
                        'd.inputs.map(i => "--input " + i.name + ":" + i.dtype + ":" + i.shape.join(",")).join(" ")')
                    # shellcheck disable=SC2086 # input names are identifiers
                    node "$ROOT/bench/ort_bench.js" --ort "$ORT" --model "$model" --batch "$batch" \
                        --threads "$threads" --warmup "$WARMUP" --iters "$ITERS" $inputs > "$TMP/ort.json" ||
                        die "ONNX Runtime failed on $model"
                    ort_meds+=("$(jget "$TMP/ort.json" 'd.median_ms')")
                done
                k=$(median "${kiln_meds[@]}")
                o=$(median "${ort_meds[@]}")
                echo "$name $backend $batch $threads $k $o" >> "$ROWS"
            done
        done
    done
done

echo "| model | backend | batch | threads | kiln median ms | ORT median ms | kiln/ORT |"
echo "|---|---|---:|---:|---:|---:|---:|"
awk '{ r = $5 / $6; printf "| %s | %s | %d | %d | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, r
       s[$2] += log(r); n[$2]++ }
     END { for (b in s) printf "| **geometric mean** | %s | | | | | **%.2f** |\n", b, exp(s[b] / n[b]) }' "$ROWS"
echo
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY; $WARMUP warm-up and $ITERS timed runs per round, $ROUNDS rounds" \
     "(kiln, ORT interleaved), median over rounds of each round's median; $(nproc) cores."
