#!/usr/bin/env bash
# Install the Debian packages kiln needs, when they are missing.
#   build:   cmake gcc pkg-config protobuf-c (lib + compiler), OpenBLAS (and its OpenMP build), oneDNN, cmocka,
#            zlib, libpng (sample grids, PNG images), libjpeg62-turbo-dev (JPEG images), Open MPI (libopenmpi-dev:
#            `mpirun -np N kiln train`; openmpi-bin: mpirun, for it and the train.mpi_* tests),
#            libonnx-dev (only for its onnx.proto, from which the parser is generated)
#   fuzzing: clang and libclang-rt-dev (libFuzzer and the sanitizer runtimes; scripts/fuzz.sh)
#   tests:   libonnx-testdata (official ONNX node tests); with --with-peers also
#            python3-torch, python3-torchvision, python3-onnx, python3-numpy, python3-pil (image fixtures), nodejs + npm
#            (to export the classifier set and run ONNX Runtime as the reference)
set -euo pipefail
packages=(cmake gcc make pkg-config libprotobuf-c-dev protobuf-c-compiler libopenblas-dev libopenblas-openmp-dev libdnnl-dev
          libcmocka-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev libopenmpi-dev openmpi-bin libonnx-dev libonnx-testdata
          clang libclang-rt-dev)
if [[ "${1:-}" == "--with-peers" ]]; then
  packages+=(python3 python3-torch python3-torchvision python3-onnx python3-numpy python3-pil nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian: a working `node` and `npm` on PATH is enough.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
