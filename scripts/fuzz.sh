#!/usr/bin/env bash
# Fuzz kiln's readers of untrusted input with libFuzzer (fuzz/README.md):
#   scripts/fuzz.sh [--runs N | --time S] [--jobs J] [--ci] [HARNESS...]
# Builds build-fuzz/ (clang, -DKILN_FUZZ=ON: ASan + UBSan + coverage), assembles each harness's seed corpus from
# the repository's own files into build-fuzz/seeds/HARNESS, then runs the harnesses one after the other:
#   onnx        the ONNX importer (then compile and run what loads, when small; dictionary fuzz/onnx.dict)
#   spec        the .kiln parser, checker and graph builder (dictionary fuzz/spec.dict)
#   npy         the .npy reader (and a write + read round trip)
#   idx         the IDX dataset reader (MNIST format, plain or gzip)
#   cifar       the CIFAR-10 binary batch reader
#   checkpoint  the training checkpoint loader
# Each runs N executions (default 10,000,000) or S seconds, on build-fuzz/corpus/HARNESS (kept between runs: the
# corpus grows) and the seeds; --jobs J runs J processes per harness (each N executions, same corpus). --ci is
# the short fixed run scripts/test.sh makes: 20,000 executions per harness from the seeds alone (a fresh corpus
# under build-fuzz/ci-corpus), libFuzzer seed 1. An input that crashes, trips a sanitizer, allocates more than
# KILN_FUZZ_MALLOC_MB (default 512) at once, grows the process past KILN_FUZZ_RSS_MB (default 2048) or runs
# longer than KILN_FUZZ_TIMEOUT seconds (default 25) is written to build-fuzz/crashes/HARNESS/ and fails the
# harness: reproduce it with `build-fuzz/fuzz/fuzz_HARNESS FILE`, fix kiln, add the file as a regression test.
# Prints one line per harness (executions, executions/s, corpus size, crashes) and exits 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(onnx spec npy idx cifar checkpoint)
runs=10000000 time_s="" jobs=1 ci=0 harnesses=()
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --runs) runs=${2:?}; time_s=""; shift 2 ;;
    --time) time_s=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    --ci) ci=1; runs=20000; time_s=""; shift ;;
    -h|--help) usage ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *) [[ " ${all[*]} " == *" $1 "* ]] || { echo "fuzz.sh: unknown harness '$1' (${all[*]})" >&2; exit 2; }
       harnesses+=("$1"); shift ;;
  esac
done
((${#harnesses[@]})) || harnesses=("${all[@]}")
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/install-deps.sh)" >&2; exit 2; }
probe=$(mktemp)
if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
     clang -fsanitize=fuzzer,address,undefined -x c - -o "$probe" 2>/dev/null; then
  rm -f "$probe"
  echo "fuzz.sh: clang cannot link libFuzzer: install libclang-rt-dev (scripts/install-deps.sh)" >&2; exit 2
fi
rm -f "$probe"

b=build-fuzz
CC=clang cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_FUZZ=ON -DKILN_WITH_ONEDNN=OFF \
  -DKILN_WITH_OPENMP=OFF -DKILN_BUILD_TESTS=OFF >/dev/null
cmake --build "$b" -j"$(nproc)" --target kiln_cli "${harnesses[@]/#/fuzz_}"

# ------------------------------------------------------------------ seeds
# le32 N: N as 4 little-endian bytes.
le32() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 24 & 255)))"; }
# two FILE1 FILE2: the two-file input of fuzz_idx (u32 length of FILE1, FILE1, FILE2).
two() { le32 "$(wc -c < "$1")"; cat "$1" "$2"; }
# mnist FILE SKIP COUNT: COUNT bytes of data/mnist/FILE.gz (decompressed) after its first SKIP (gzip stops on SIGPIPE).
mnist() { gzip -dc "data/mnist/$1.gz" 2>/dev/null | tail -c +$(($2 + 1)) | head -c "$3" || true; }
# idx_pair OUT N GZIP: an IDX images + labels input with the first N digits of data/mnist (gzipped when GZIP=1).
idx_pair() {
  local t=$b/seeds/tmp
  { printf '\000\000\010\003'; printf '\000\000\000'; printf "\\$(printf %03o "$2")"; printf '\000\000\000\034\000\000\000\034'
    mnist train-images-idx3-ubyte 16 $(($2 * 784)); } > "$t.i"
  { printf '\000\000\010\001'; printf '\000\000\000'; printf "\\$(printf %03o "$2")"
    mnist train-labels-idx1-ubyte 8 "$2"; } > "$t.l"
  if [[ $3 == 1 ]]; then gzip -nc "$t.i" > "$t.ig"; gzip -nc "$t.l" > "$t.lg"; two "$t.ig" "$t.lg" > "$1"
  else two "$t.i" "$t.l" > "$1"; fi
  rm -f "$t".*
}
seeds() {
  local s=$b/seeds/$1
  rm -rf "$s"; mkdir -p "$s"
  # fuzz/corpus/HARNESS: inputs that once crashed kiln (regression inputs, each also a test of the suite)
  if [[ -d fuzz/corpus/$1 ]]; then cp fuzz/corpus/"$1"/* "$s"/; fi
  case "$1" in
    onnx) cp models/mnist_small.onnx tests/data/onnx/*.onnx tests/cli/*.onnx "$s"/
          sh tests/cli/make_data.sh "$b/seeds/cli" . >/dev/null
          find "$b/seeds/cli" -maxdepth 1 -type f -name '*.onnx' -exec cp {} "$s"/ \; ;; # files only: make_data.sh
                                                                                   # makes a dir.onnx directory too
    spec) cp models/*.kiln tests/spec/*.kiln tests/cli/*.kiln tests/train/*.kiln fuzz/*.kiln "$s"/ ;;
    npy) sh tests/cli/make_data.sh "$b/seeds/cli" . >/dev/null
         find "$b/seeds/cli" -maxdepth 1 -type f -name '*.npy' -exec cp {} "$s"/ \;
         cp models/data/digit_7.npy models/data/digits_batch4_probs.npy "$s"/ ;;
    idx) idx_pair "$s/mnist_3" 3 0; idx_pair "$s/mnist_2_gz" 2 1 ;;
    cifar) # four records: labels 0-3, pixels from the MNIST digits
           for k in 0 1 2 3; do printf "\\$(printf %03o $k)"; mnist train-images-idx3-ubyte $((16 + k * 3072)) 3072
           done > "$s/records_4" ;;
    checkpoint) rm -rf "$b/seeds/ckpt"
                OMP_NUM_THREADS=1 "$b/kiln" train fuzz/checkpoint.kiln --threads 1 --checkpoint "$b/seeds/ckpt" >/dev/null
                cp "$b/seeds/ckpt/latest.kcpt" "$s/" ;;
  esac
}

# ------------------------------------------------------------------ runs
# The harnesses that read files write each input to a scratch directory under TMPDIR: a tmpfs when there is one
# (on a disk, kiln's atomic writes' fsync makes the .npy and checkpoint round trips 20 times slower).
scratch_root=$PWD/$b/tmp
[[ -d /dev/shm && -w /dev/shm ]] && scratch_root=/dev/shm
mkdir -p "$scratch_root"
scratch=$(mktemp -d "$scratch_root/kiln-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1
corpus_root=$b/corpus
[[ $ci == 1 ]] && { corpus_root=$b/ci-corpus; rm -rf "$corpus_root"; }
failed=0 t0=$SECONDS
for h in "${harnesses[@]}"; do
  seeds "$h"
  corpus=$corpus_root/$h crashes=$b/crashes/$h logs=$b/logs/$h
  mkdir -p "$corpus" "$crashes" "$logs"
  rm -f "$logs"/*.log
  flags=(-rss_limit_mb="${KILN_FUZZ_RSS_MB:-2048}" -malloc_limit_mb="${KILN_FUZZ_MALLOC_MB:-512}"
         -timeout="${KILN_FUZZ_TIMEOUT:-25}" -print_final_stats=1 -artifact_prefix="$crashes/")
  if [[ -f fuzz/$h.dict ]]; then flags+=(-dict="fuzz/$h.dict"); fi
  if [[ -n $time_s ]]; then flags+=(-max_total_time="$time_s"); else flags+=(-runs="$runs"); fi
  start=$SECONDS pids=()
  for ((j = 0; j < jobs; j++)); do
    seed=$((ci ? 1 : RANDOM * 32768 + RANDOM + j))
    "$b/fuzz/fuzz_$h" "${flags[@]}" -seed="$seed" "$corpus" "$b/seeds/$h" > "$logs/$j.log" 2>&1 & pids+=($!)
  done
  status=0
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  execs=$(cat "$logs"/*.log | awk '/^stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }')
  secs=$((SECONDS - start))
  ncrash=$( (grep -lE 'Test unit written to' "$logs"/*.log || true) | wc -l)
  printf 'fuzz %-10s %10d executions in %4d s (%6d/s), corpus %5d files, %s\n' "$h" "$execs" "$secs" \
    $((execs / (secs > 0 ? secs : 1))) "$(find "$corpus" -type f | wc -l)" \
    "$( ((status == 0)) && echo "no crash" || echo "FAILED: $ncrash crashing job(s), see $logs/ and $crashes/")"
  if ((status != 0)); then
    failed=1
    grep -hE -A12 '^==[0-9]+==ERROR|runtime error:|Test unit written to' "$logs"/*.log | head -40 >&2 || true
  fi
done
echo "fuzz: $((SECONDS - t0)) s in all"
exit "$failed"
