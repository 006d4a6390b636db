#!/bin/sh
# make_npy.sh OUT.npy "(2, 1, 28, 28)" - write a float32 .npy of that shape
# filled with a fixed pattern of seven values (0.5, -0.25, 1, -0.75, 0.125,
# 0.875, -1), so that spec models get a non-trivial, reproducible input
# without numpy. An empty shape argument writes nothing.
set -eu
out=$1
shape=$2
count=1
for d in $(printf '%s' "$shape" | tr -d '(),' ); do
    count=$((count * d))
done
bytes=$((count * 4))
h="{'descr': '<f4', 'fortran_order': False, 'shape': $shape, }"
len=${#h}
total=$(( (10 + len + 1 + 63) / 64 * 64 ))
hl=$(( total - 10 ))
tmp="$out.pattern"
printf '\000\000\000\077\000\000\200\276\000\000\200\077\000\000\100\277\000\000\000\076\000\000\140\077\000\000\200\277' > "$tmp"
size=28
while [ "$size" -lt "$bytes" ]; do
    cat "$tmp" "$tmp" > "$tmp.2"
    mv "$tmp.2" "$tmp"
    size=$((size * 2))
done
{
    printf '\223NUMPY\001\000'
    printf "\\$(printf %03o $(( hl % 256 )))\\$(printf %03o $(( hl / 256 )))"
    printf '%s' "$h"
    printf '%*s\n' $(( hl - len - 1 )) ''
    head -c "$bytes" "$tmp"
} > "$out"
rm -f "$tmp"
