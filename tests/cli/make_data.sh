#!/bin/sh
# make_data.sh OUTDIR SOURCE_DIR - write the bad input files the CLI tests feed to kiln:
#   garbage.onnx     text that is not a protobuf model
#   truncated.onnx   the first 600 bytes of models/mnist_small.onnx
#   empty.onnx       an empty file
#   bad_magic.npy    not a .npy file
#   truncated.npy    a float32 [1,1,28,28] header with only 100 bytes of data
#   absurd.npy       a header with shape (2**62, 2**62)
#   big_endian.npy   a '>f4' array
#   wrong_shape.npy  float32 (1, 28, 28) zeros (mnist_small wants [N,1,28,28])
#   wrong_dtype.npy  int64 (1, 1, 28, 28) zeros
#   rank0.npy        a float32 scalar
#   zeros_2x4.npy, zeros_2x3.npy  float32 zeros for logits.onnx and two_inputs.onnx
#   empty_0x3.npy    float32 (0, 3), for empty_rows.onnx
#   dir.onnx/, dir.kiln/  directories named like models
set -eu
out=$1
src=$2
mkdir -p "$out"

# npy FILE DESCR SHAPE DATA_BYTES: a version 1.0 .npy file of zero bytes, header padded to 64.
npy() {
    h="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    len=${#h}
    total=$(( (10 + len + 1 + 63) / 64 * 64 ))
    hl=$(( total - 10 ))
    {
        printf '\223NUMPY\001\000'
        printf "\\$(printf %03o $(( hl % 256 )))\\$(printf %03o $(( hl / 256 )))"
        printf '%s' "$h"
        printf '%*s\n' $(( hl - len - 1 )) ''
        dd if=/dev/zero bs=1 count="$4" 2>/dev/null
    } > "$1"
}

printf 'this is not an ONNX model\n\377\377\377\377\001\002garbage' > "$out/garbage.onnx"
dd if="$src/models/mnist_small.onnx" of="$out/truncated.onnx" bs=1 count=600 2>/dev/null
: > "$out/empty.onnx"
printf 'PK\003\004 not a numpy file' > "$out/bad_magic.npy"
npy "$out/truncated.npy" '<f4' '(1, 1, 28, 28)' 100
npy "$out/absurd.npy" '<f4' '(4611686018427387904, 4611686018427387904)' 16
npy "$out/big_endian.npy" '>f4' '(1, 1, 28, 28)' 3136
npy "$out/wrong_shape.npy" '<f4' '(1, 28, 28)' 3136
npy "$out/wrong_dtype.npy" '<i8' '(1, 1, 28, 28)' 6272
npy "$out/rank0.npy" '<f4' '()' 4
npy "$out/zeros_2x4.npy" '<f4' '(2, 4)' 32
npy "$out/zeros_2x3.npy" '<f4' '(2, 3)' 24
npy "$out/empty_0x3.npy" '<f4' '(0, 3)' 0
mkdir -p "$out/dir.onnx" "$out/dir.kiln"
