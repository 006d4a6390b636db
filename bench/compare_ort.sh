#!/usr/bin/env bash
# compare_ort.sh [options] [MODEL ...] - kiln against ONNX Runtime, side by
# side, as a Markdown table on standard output (progress on stderr).
#
# Models (default: all of them):
#   - the classifier set, BUILD/models/*.onnx (KILN_MODELS_DIR), written by
#     the models.setup ctest fixture (see tests/models.cmake);
#   - every file of models/: mnist_small.onnx, and every model of every
#     .kiln spec, exported to ONNX into a temporary directory with
#     `kiln compile SPEC --model NAME --emit onnx -o FILE` (a spec that
#     defines one model is named after the spec, e.g. mnist_cnn; one that
#     defines several gives SPEC:MODEL rows, e.g. dcgan:generator): kiln
#     and ONNX Runtime then time the very same file (`kiln bench SPEC
#     --model NAME` alone would time the spec's graph directly).
# A MODEL argument (or --models LIST) picks some: a path to an .onnx or
# .kiln file (SPEC.kiln:MODEL for one model of a spec), or a name: NAME of
# BUILD/models/NAME.onnx, models/NAME.onnx or models/NAME.kiln, or
# SPEC:MODEL.
#
# Each model is first run once by `kiln bench` (ref, batch 1) and by
# ONNX Runtime: a model whose inputs are not all float32, or that either
# cannot run, is reported on stderr and under the table and skipped. Then,
# for every kiln backend, batch size and thread count, it runs
# `kiln bench --json` and bench/ort_bench.js (onnxruntime-node, CPU
# execution provider, all graph optimisations, intraOpNumThreads = threads,
# one inter-op thread) with the same warm-up runs, timed runs and seeded
# random inputs of the same shapes, interleaved: kiln, ORT, kiln, ORT, ...
# (--rounds rounds per configuration), so that a slow spell of the machine
# hits both. Each round gives a median latency; the table shows the median
# over the rounds (the mean of the two middle ones for an even count), the
# ratio kiln/ORT (below 1: kiln is faster), the geometric mean of the
# ratios per backend and per backend x threads, how many rows kiln is at
# least as fast in, and beside the medians kiln's and ORT's tail latency
# (each round's 99th percentile, the median over the rounds). Fast rows get more timed runs: when --iters runs of
# kiln's first round take less than --min-time seconds, that round is
# repeated with as many runs as fill --min-time (at most 100000), and every
# round of that row, kiln and ORT, uses that count. Such a row also gets
# --fast-rounds rounds: its rounds cost little, and sub-millisecond medians
# are the ones a noisy spell of the machine moves most.
#
# Environment: left as it is. With OMP_WAIT_POLICY and GOMP_SPINCOUNT
# unset, kiln sets GOMP_SPINCOUNT=30000 itself (short spinning, then sleep:
# as fast as libgomp's default on idle cores, and no long spinning where
# other processes use the cores); passive makes OpenMP threads sleep between
# primitives (about twice the dnnl latency at batch 1). The values in effect
# are printed under the table. kiln gets --threads N (its OpenMP and
# OpenBLAS threads).
#
# options:
#   --build DIR        kiln build directory (default: build; KILN_BUILD)
#   --kiln FILE        the kiln executable (default: BUILD/kiln)
#   --backend LIST     kiln backends, comma-separated (default: ref,dnnl when
#                      kiln has the dnnl backend, else ref)
#   --batch "1 8"      batch sizes (space- or comma-separated)
#   --threads "1 2"    thread counts
#   --warmup W         untimed runs per round (default: 3)
#   --iters N          timed runs per round (default: 20)
#   --min-time S       seconds a round should last at least (default: 0.25;
#                      0: exactly --iters runs)
#   --rounds R         kiln/ORT rounds per configuration (default: 3)
#   --fast-rounds R    rounds of a fast row (see above; default: 5, at
#                      least --rounds)
#   --isa LEVEL        cap oneDNN's instruction set (kiln bench --isa, as
#                      DNNL_MAX_CPU_ISA: SSE41, AVX2, AVX512_CORE, ...); the
#                      set in effect is printed under the table either way
#   --models LIST      models to run (comma- or space-separated), as MODEL
#   --markdown-out F   also write the table and its notes to F
#   --list             print the models (row name, file) and exit:
#                      nothing is timed, ONNX Runtime is not needed
#
# Exit status: 0 when the table was printed and kiln ran everything it was
# given (models skipped for their inputs or for ONNX Runtime included); 1
# when kiln failed somewhere (the table still shows the other rows) or on
# bad usage.
#
# Needs: kiln, node; onnxruntime-node in BUILD/ort (KILN_ORT_DIR),
# installed by scripts/setup_ort.sh when missing (npm registry access once).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KILN_BUILD:-$ROOT/build}
KILN=
BACKENDS=
BATCHES="1 8"
THREADS="1 2"
WARMUP=3
ITERS=20
MIN_TIME=0.25
ROUNDS=3
FAST_ROUNDS=5
MD_OUT=
ISA_ARGS=()
LIST=0
MODELS=()
MAX_ITERS=100000
die() { echo "compare_ort.sh: $*" >&2; exit 1; }
note() { echo "compare_ort.sh: $*" >&2; }
need_value() { [ $# -ge 2 ] || die "option '$1' needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    --build|--kiln|--backend|--backends|--batch|--threads|--warmup|--iters|--min-time|--rounds|--fast-rounds|--models|--markdown-out|--isa)
        need_value "$@" ;;
    esac
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --kiln) KILN=$2; shift 2 ;;
    --backend|--backends) BACKENDS=${2//,/ }; shift 2 ;;
    --batch) BATCHES=${2//,/ }; shift 2 ;;
    --threads) THREADS=${2//,/ }; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --min-time) MIN_TIME=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --fast-rounds) FAST_ROUNDS=$2; shift 2 ;;
    --models) for m in ${2//,/ }; do MODELS+=("$m"); done; shift 2 ;;
    --markdown-out) MD_OUT=$2; shift 2 ;;
    --isa) ISA_ARGS=(--isa "$2"); shift 2 ;;
    --list) LIST=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; MODELS+=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) MODELS+=("$1"); shift ;;
    esac
done
# one space between list items
words() { local w; read -ra w <<< "$1"; echo "${w[*]}"; }
BACKENDS=$(words "$BACKENDS") BATCHES=$(words "$BATCHES") THREADS=$(words "$THREADS")
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_pos() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
for v in $BATCHES $THREADS; do is_pos "$v" || die "--batch and --threads need positive integers, got '$v'"; done
[ -n "${BATCHES// /}" ] || die "--batch needs at least one value"
[ -n "${THREADS// /}" ] || die "--threads needs at least one value"
is_uint "$WARMUP" || die "--warmup needs a non-negative integer, got '$WARMUP'"
is_pos "$ITERS" || die "--iters needs a positive integer, got '$ITERS'"
is_pos "$ROUNDS" || die "--rounds needs a positive integer, got '$ROUNDS'"
is_pos "$FAST_ROUNDS" || die "--fast-rounds needs a positive integer, got '$FAST_ROUNDS'"
[ "$FAST_ROUNDS" -ge "$ROUNDS" ] || FAST_ROUNDS=$ROUNDS
[[ $MIN_TIME =~ ^[0-9]*\.?[0-9]+$ ]] || die "--min-time needs a non-negative number of seconds, got '$MIN_TIME'"

if [ -z "$KILN" ]; then
    [ -d "$BUILD" ] || die "no build directory $BUILD (build kiln first, or pass --build DIR)"
    BUILD=$(cd "$BUILD" && pwd)
    KILN=$BUILD/kiln
fi
[ -x "$KILN" ] || die "no kiln at $KILN (build kiln first)"
MODEL_DIR=${KILN_MODELS_DIR:-$BUILD/models}
ORT=${KILN_ORT_DIR:-$BUILD/ort}

# the backends this kiln has: `kiln bench --help` lists them; an older kiln
# names them when asked for an unknown one (checked before any model is read)
AVAILABLE=$("$KILN" bench --help | sed -n 's/^backends in this build: //p') || true
[ -n "$AVAILABLE" ] ||
    AVAILABLE=$("$KILN" bench /dev/null --backend '?' 2>&1 | sed -n 's/.*(available: \(.*\))$/\1/p') || true
AVAILABLE=$(words "${AVAILABLE//,/ }")
has_backend() { case " $AVAILABLE " in *" $1 "*) return 0 ;; esac; return 1; }
if [ -z "$BACKENDS" ]; then
    BACKENDS=ref
    if has_backend dnnl; then BACKENDS="ref dnnl"; fi
fi
for b in $BACKENDS; do
    has_backend "$b" || die "kiln has no backend '$b' (available: ${AVAILABLE:-unknown})"
done

LOAD_START=$(cut -d ' ' -f 1 /proc/loadavg 2> /dev/null) || true
TMP=$(mktemp -d "${TMPDIR:-/tmp}/compare_ort.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/onnx"

# jq-like reading of one JSON file with node: jget FILE 'JS expression of d'
jget() { node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(eval(process.argv[2]))' "$1" "$2"; }
# median of numbers on the command line
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# the last line of a file, for a one-line reason, less the tool's "name: MODEL: " prefix
last_line() {
    local line
    line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1) || true
    line=${line#"ort_bench: ${2:-}: "}
    echo "${line#"kiln: error: "}"
}
# a path as the user knows it: relative to the repository when inside it
show() { case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac; }

SKIPPED=$TMP/skipped # "name<TAB>reason" lines, printed under the table
: > "$SKIPPED"
KILN_FAILED=0
skip() { note "skipping $1: $2"; printf '%s\t%s\n' "$1" "$2" >> "$SKIPPED"; }

# The models to run: parallel arrays of row names and ONNX files.
NAMES=() FILES=() SOURCES=()
add_onnx() { # NAME FILE [SOURCE: what FILE was made from]
    local k
    for k in "${!NAMES[@]}"; do [ "${NAMES[$k]}" = "$1" ] && return 0; done
    NAMES+=("$1") FILES+=("$2") SOURCES+=("${3:-$(show "$2")}")
}
# add_spec SPEC [MODEL]: export MODEL (default: every model SPEC defines)
add_spec() {
    local spec=$1 want=${2:-} base models name file m
    base=$(basename "$spec" .kiln)
    if ! "$KILN" compile "$spec" > "$TMP/summary" 2> "$TMP/err"; then
        skip "$base" "kiln compile $(show "$spec") failed: $(last_line "$TMP/err")"
        return 0
    fi
    models=$(sed -n 's/^Model: "\(.*\)"$/\1/p' "$TMP/summary")
    [ -n "$models" ] || { skip "$base" "kiln compile $(show "$spec") lists no model"; return 0; }
    if [ -n "$want" ] && ! printf '%s\n' "$models" | grep -qxF -- "$want"; then
        die "$(show "$spec") has no model '$want' (models: $(printf '%s\n' "$models" | paste -sd, - | sed 's/,/, /g'))"
    fi
    for m in $models; do
        [ -z "$want" ] || [ "$m" = "$want" ] || continue
        if [ "$(printf '%s\n' "$models" | wc -l)" -eq 1 ]; then name=$base; else name=$base:$m; fi
        file=$TMP/onnx/${name//:/_}.onnx
        if "$KILN" compile "$spec" --model "$m" --emit onnx -o "$file" > /dev/null 2> "$TMP/err"; then
            note "exported $(show "$spec") model $m to ONNX as $name"
            add_onnx "$name" "$file" "$(show "$spec") --model $m (exported)"
        else
            skip "$name" "kiln compile $(show "$spec") --model $m --emit onnx failed: $(last_line "$TMP/err")"
        fi
    done
}
add_model() { # one MODEL argument
    local arg=$1 path=$1 model='' spec
    case $arg in *.kiln:*) path=${arg%:*}; model=${arg##*:} ;; esac
    case $path in
    *.kiln) [ -f "$path" ] || die "no model spec $path"; add_spec "$path" "$model"; return ;;
    */*|*.onnx) [ -f "$path" ] || die "no model $path"; add_onnx "$(basename "$path" .onnx)" "$path"; return ;;
    esac
    if [ -f "$MODEL_DIR/$arg.onnx" ]; then add_onnx "$arg" "$MODEL_DIR/$arg.onnx"
    elif [ -f "$ROOT/models/$arg.onnx" ]; then add_onnx "$arg" "$ROOT/models/$arg.onnx"
    elif [ -f "$ROOT/models/$arg.kiln" ]; then add_spec "$ROOT/models/$arg.kiln"
    elif [[ $arg == *:* ]] && spec=$ROOT/models/${arg%%:*}.kiln && [ -f "$spec" ]; then add_spec "$spec" "${arg#*:}"
    else die "no model '$arg' (not in $(show "$MODEL_DIR") or models/, and not a file)"
    fi
}
if [ ${#MODELS[@]} -eq 0 ]; then
    found=0
    for m in "$MODEL_DIR"/*.onnx; do [ -f "$m" ] && add_onnx "$(basename "$m" .onnx)" "$m" && found=1; done
    [ $found = 1 ] || note "no classifier set in $MODEL_DIR (make it with: ctest --test-dir $BUILD -R models.setup); models/ only"
    for m in "$ROOT"/models/*.onnx; do [ -f "$m" ] && add_onnx "$(basename "$m" .onnx)" "$m"; done
    for m in "$ROOT"/models/*.kiln; do [ -f "$m" ] && add_spec "$m"; done
else
    for m in "${MODELS[@]}"; do add_model "$m"; done
fi
[ ${#NAMES[@]} -gt 0 ] || die "no model to run"
if [ $LIST = 1 ]; then
    for k in "${!NAMES[@]}"; do printf '%s\t%s\n' "${NAMES[$k]}" "${SOURCES[$k]}"; done
    [ ! -s "$SKIPPED" ] || awk -F '\t' '{ printf "skipped %s: %s\n", $1, $2 }' "$SKIPPED"
    exit 0
fi

command -v node >/dev/null || die "node is needed for ONNX Runtime (apt install nodejs npm)"
if [ ! -d "$ORT/node_modules/onnxruntime-node" ]; then
    note "installing onnxruntime-node into $ORT"
    sh "$ROOT/scripts/setup_ort.sh" "$ORT" >&2 || die "cannot install onnxruntime-node into $ORT"
fi
ORT_VERSION=$(node -p 'require(require("path").resolve(process.argv[1])).version' "$ORT/node_modules/onnxruntime-node/package.json" 2> /dev/null) || true

declare -A ISAS # backend -> the instruction set kiln bench reported for it
ROWS=$TMP/rows # name backend batch threads kiln_ms ort_ms runs, tab-separated
: > "$ROWS"
for k in "${!NAMES[@]}"; do
    name=${NAMES[$k]} model=${FILES[$k]}
    # probe: kiln (ref) and ONNX Runtime run it once, and its inputs are float32
    note "$name: checking that kiln and ONNX Runtime run it"
    if ! "$KILN" bench "$model" --backend ref --batch 1 --threads 1 --warmup 0 --iters 1 --json "${ISA_ARGS[@]}" \
            > "$TMP/kiln.json" 2> "$TMP/err"; then
        skip "$name" "kiln cannot run it: $(last_line "$TMP/err")"
        KILN_FAILED=1
        continue
    fi
    other=$(jget "$TMP/kiln.json" 'd.inputs.filter(i => i.dtype !== "float32").map(i => i.name + " " + i.dtype).join(", ")')
    if [ -n "$other" ]; then
        skip "$name" "inputs not float32 ($other): kiln and ORT would not get comparable inputs"
        continue
    fi
    # --input NAME:DTYPE:DIMS per input, one word per line (names may hold spaces)
    INPUTS=()
    while IFS= read -r word; do
        [ -z "$word" ] || INPUTS+=("$word")
    done < <(jget "$TMP/kiln.json" \
        'd.inputs.map(i => "--input\n" + i.name + ":" + i.dtype + ":" + i.shape.join(",")).join("\n")')
    if ! node "$ROOT/bench/ort_bench.js" --ort "$ORT" --model "$model" --batch 1 --threads 1 \
            --warmup 0 --iters 1 "${INPUTS[@]}" > /dev/null 2> "$TMP/err"; then
        skip "$name" "ONNX Runtime cannot run it: $(last_line "$TMP/err" "$model")"
        continue
    fi
    for backend in $BACKENDS; do
        for batch in $BATCHES; do
            for threads in $THREADS; do
                row="$name $backend batch $batch threads $threads"
                kiln_meds=() ort_meds=() kiln_p99s=() ort_p99s=() iters=$ITERS ok=1 calibrated=0 rounds=$ROUNDS round=0
                while [ "$round" -lt "$rounds" ]; do
                    round=$((round + 1))
                    note "$row round $round/$rounds ($iters runs)"
                    while :; do
                        if ! "$KILN" bench "$model" --backend "$backend" --batch "$batch" --threads "$threads" \
                                --warmup "$WARMUP" --iters "$iters" --json "${ISA_ARGS[@]}" > "$TMP/kiln.json" \
                                2> "$TMP/err"; then
                            skip "$row" "kiln bench failed: $(last_line "$TMP/err")"
                            KILN_FAILED=1 ok=0
                            break
                        fi
                        kiln_ms=$(jget "$TMP/kiln.json" 'd.results[0].median_ms')
                        isa=$(jget "$TMP/kiln.json" 'd.isa ? d.isa[d.results[0].backend] : ""')
                        [ -z "$isa" ] || ISAS[$backend]=$isa
                        [ "$round.$calibrated" = 1.0 ] || break
                        calibrated=1
                        # a fast row: as many runs as fill --min-time, for kiln and ORT alike (once)
                        more=$(awk -v t="$MIN_TIME" -v ms="$kiln_ms" -v n="$iters" -v cap="$MAX_ITERS" \
                            'BEGIN { w = (ms > 0) ? int(t * 1000 / ms) + 1 : cap; if (w > cap) w = cap
                                     print (t > 0 && ms * n < t * 1000 && w > n) ? w : n }')
                        [ "$more" -gt "$iters" ] || break
                        iters=$more rounds=$FAST_ROUNDS
                        note "$row: fast, round 1 again with $iters runs (--min-time $MIN_TIME), $rounds rounds"
                    done
                    [ $ok = 1 ] || break
                    kiln_meds+=("$kiln_ms")
                    kiln_p99s+=("$(jget "$TMP/kiln.json" 'd.results[0].p99_ms')")
                    if ! node "$ROOT/bench/ort_bench.js" --ort "$ORT" --model "$model" --batch "$batch" \
                            --threads "$threads" --warmup "$WARMUP" --iters "$iters" "${INPUTS[@]}" \
                            > "$TMP/ort.json" 2> "$TMP/err"; then
                        skip "$row" "ONNX Runtime failed: $(last_line "$TMP/err" "$model")"
                        ok=0
                        break
                    fi
                    ort_meds+=("$(jget "$TMP/ort.json" 'd.median_ms')")
                    ort_p99s+=("$(jget "$TMP/ort.json" 'd.p99_ms')")
                done
                [ $ok = 1 ] || continue
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$backend" "$batch" "$threads" \
                    "$(median "${kiln_meds[@]}")" "$(median "${ort_meds[@]}")" "$iters" \
                    "$(median "${kiln_p99s[@]}")" "$(median "${ort_p99s[@]}")" >> "$ROWS"
            done
        done
    done
done

# ------------------------------------------------------------------ table
TABLE=$TMP/table.md
{
    echo "| model | backend | batch | threads | kiln median ms | ORT median ms | kiln/ORT | kiln p99 ms | ORT p99 ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F '\t' -v backends="$BACKENDS" -v threads="$THREADS" -v iters="$ITERS" -v min_time="$MIN_TIME" -v fast_rounds="$FAST_ROUNDS" '
        function ms(v) { return v >= 100 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3f", v) }
        {
            r = $5 / $6
            printf "| %s | %s | %d | %d | %s | %s | %.2f | %s | %s |\n", $1, $2, $3, $4, ms($5), ms($6), r, ms($8), ms($9)
            s[$2] += log(r); n[$2]++; st[$2, $4] += log(r); nt[$2, $4]++
            if ($5 <= $6) { win[$2]++; wins++ }
            rows++
            if ($7 > max_runs) max_runs = $7
            if ($7 > iters) raised++
        }
        END {
            nb = split(backends, b, " "); nth = split(threads, t, " ")
            for (i = 1; i <= nb; i++) {
                if (n[b[i]]) printf "| **geometric mean** | %s | | all | | | **%.2f** | | |\n", b[i], exp(s[b[i]] / n[b[i]])
                for (j = 1; j <= nth && nth > 1; j++)
                    if (nt[b[i], t[j]])
                        printf "| **geometric mean** | %s | | %d | | | **%.2f** | | |\n", b[i], t[j], exp(st[b[i], t[j]] / nt[b[i], t[j]])
            }
            printf "\nkiln as fast as ONNX Runtime or faster (kiln/ORT <= 1) in %d of %d rows", wins, rows
            sep = " ("
            for (i = 1; i <= nb; i++)
                if (n[b[i]]) { printf "%s%s: %d of %d", sep, b[i], win[b[i]], n[b[i]]; sep = ", " }
            printf "%s.\n", rows ? ")" : ""
            printf "p99: the 99th percentile of each round'"'"'s timed runs (the median over rounds); it needs about 100 runs a round to mean more than the slowest run.\n"
            if (raised)
                printf "Timed runs per round: %d; raised in %d rows (up to %d) so that a kiln round lasts %s s (--min-time); those rows ran %d rounds (--fast-rounds).\n", iters, raised, max_runs, min_time, fast_rounds
        }' "$ROWS"
    echo
    if [ -n "${OMP_WAIT_POLICY+set}" ]; then
        wait_note="OMP_WAIT_POLICY=$OMP_WAIT_POLICY (from the environment)"
        [ "${OMP_WAIT_POLICY,,}" != passive ] ||
            wait_note="$wait_note; passive makes OpenMP threads sleep between primitives: unset it unless other processes compete for the cores"
    elif [ -n "${GOMP_SPINCOUNT+set}" ]; then
        wait_note="OMP_WAIT_POLICY unset, GOMP_SPINCOUNT=$GOMP_SPINCOUNT (from the environment)"
    else
        wait_note="OMP_WAIT_POLICY and GOMP_SPINCOUNT unset (kiln sets GOMP_SPINCOUNT=30000)"
    fi
    echo "$wait_note. kiln: $(show "$KILN"), backends ${BACKENDS// /, };" \
         "ONNX Runtime: onnxruntime-node ${ORT_VERSION:-?}, CPU provider, intraOpNumThreads = threads;" \
         "warm-up runs: $WARMUP, timed runs per round: $ITERS, rounds: $ROUNDS (kiln, ORT interleaved);" \
         "the medians are over rounds of each round's median; $(nproc) cores."
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2> /dev/null || true)
    isa_note=
    for backend in $BACKENDS; do
        [ -z "${ISAS[$backend]:-}" ] && continue
        case $backend in
        dnnl) isa_note="$isa_note${isa_note:+, }dnnl: oneDNN ISA ${ISAS[$backend]}" ;;
        ref) isa_note="$isa_note${isa_note:+, }ref: OpenBLAS core ${ISAS[$backend]}" ;;
        *) isa_note="$isa_note${isa_note:+, }$backend: ${ISAS[$backend]}" ;;
        esac
    done
    echo "CPU: ${cpu:-unknown}; instruction sets: ${isa_note:-not reported}${ISA_ARGS[1]:+ (--isa ${ISA_ARGS[1]})}${DNNL_MAX_CPU_ISA:+ (DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA)}."
    if [ -n "$LOAD_START" ]; then
        load_note="1-minute load average at the start: $LOAD_START"
        awk -v l="$LOAD_START" 'BEGIN { exit !(l >= 1) }' &&
            load_note="$load_note: other processes were competing for the cores, which distorts the rows with threads > 1 most"
        echo "$load_note."
    fi
    if [ -s "$SKIPPED" ]; then
        echo
        echo "Skipped:"
        awk -F '\t' '{ printf "- %s: %s\n", $1, $2 }' "$SKIPPED"
    fi
} > "$TABLE"
cat "$TABLE"
if [ -n "$MD_OUT" ]; then
    cp "$TABLE" "$MD_OUT" || die "cannot write $MD_OUT"
    note "wrote $MD_OUT"
fi
[ -s "$ROWS" ] || die "no row was measured"
[ $KILN_FAILED = 0 ] || die "kiln failed on some models (see Skipped)"
