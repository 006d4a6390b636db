#!/usr/bin/env bash
# Install what kiln needs, build it, and run its main job on data the repo ships:
# classify MNIST digits with models/mnist_small.onnx on the reference and oneDNN backends,
# time both, and compile a model spec.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/kiln info models/mnist_small.onnx
for digit in models/data/digit_*.npy; do
  echo "== $digit"
  ./build/kiln run models/mnist_small.onnx --input image="$digit" --top 3 --output build/demo-out
done
echo "== batch of 4"
./build/kiln run models/mnist_small.onnx --input image=models/data/digits_batch4.npy --top 1 --output build/demo-out
echo "== the same batch on the oneDNN backend, then both backends timed side by side"
./build/kiln run models/mnist_small.onnx --backend dnnl --input image=models/data/digits_batch4.npy --top 1
./build/kiln bench models/mnist_small.onnx --batch 1,8 --threads "$(nproc)"
echo "== a model spec: summary and ONNX export"
./build/kiln compile models/mnist_cnn.kiln
./build/kiln compile models/mnist_cnn.kiln -o build/demo-out/mnist_cnn.onnx
