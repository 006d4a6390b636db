#!/usr/bin/env bash
# Install what kiln and its tests need, then build and run the whole test suite twice, then fuzz:
#   1. an optimised build (with the oneDNN backend, KILN_WITH_ONEDNN=ON): unit, CLI, ONNX node
#      tests, oneDNN-vs-reference parity, the classifier set vs ONNX Runtime, and the installed
#      library (install_example: `cmake --install` into a temporary prefix, examples/classify.c built
#      against it with pkg-config and with CMake, then run);
#   2. an ASan+UBSan build: the same suite except the big classifier models (label `models`);
#   3. fuzzing (needs clang): every libFuzzer harness of fuzz/ for 20,000 executions from its seed corpus
#      (scripts/fuzz.sh --ci, about a minute after its build); a crash or sanitizer report fails the script.
# Environment: KILN_TEST_SKIP_ASAN=1 skips step 2, KILN_TEST_SKIP_FUZZ=1 step 3; KILN_TEST_JOBS sets ctest's
# parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-peers
jobs=${KILN_TEST_JOBS:-$(nproc)}
# no convolution-layout cache across test runs (backends/dnnl/dnnl_tune.c): every run times afresh, and the
# tests write nothing under $HOME
export KILN_CACHE_DIR=

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_WITH_ONEDNN=ON >/dev/null
cmake --build build -j"$(nproc)"
(cd build && OMP_NUM_THREADS=1 ctest --output-on-failure -j"$jobs")

if [[ "${KILN_TEST_SKIP_ASAN:-0}" != 1 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON -DKILN_WITH_ONEDNN=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=1 \
     ctest --output-on-failure -j"$jobs" -LE models)
fi

if [[ "${KILN_TEST_SKIP_FUZZ:-0}" != 1 ]]; then
  if command -v clang >/dev/null 2>&1; then
    bash scripts/fuzz.sh --ci
  else
    echo "test.sh: clang is not installed: the fuzzing step (scripts/fuzz.sh --ci) is skipped"
  fi
fi
