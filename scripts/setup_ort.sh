#!/bin/sh
# setup_ort.sh DIR - install ONNX Runtime for Node.js into DIR (default
# build/ort) for scripts/ort_reference.js, kiln's reference for model tests.
#
# `npm install --ignore-scripts` is enough: the CPU runtime
# (libonnxruntime.so and the N-API binding) is bundled in the npm package;
# the postinstall script that --ignore-scripts skips only downloads optional
# CUDA execution-provider binaries. The version is pinned so references are
# reproducible. Needs: nodejs, npm, and access to the npm registry once.
set -eu
DIR=${1:-build/ort}
VERSION=${KILN_ORT_VERSION:-1.30.0}
mkdir -p "$DIR"
if [ -f "$DIR/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/onnxruntime-node/package.json"; then
    echo "onnxruntime-node $VERSION already in $DIR"
else
    # a private package.json keeps npm from walking up into other projects
    [ -f "$DIR/package.json" ] || echo '{ "name": "kiln-ort", "private": true }' > "$DIR/package.json"
    npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund --loglevel=error \
        "onnxruntime-node@$VERSION"
fi
cd "$DIR"
node -e "const ort = require('onnxruntime-node'); if (!ort.InferenceSession) process.exit(1);" ||
    { echo "setup_ort.sh: onnxruntime-node does not load in $DIR" >&2; exit 1; }
echo "onnxruntime-node $VERSION ready in $DIR"
