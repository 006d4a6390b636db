#!/bin/sh
# conv_cache.sh KILN MODEL DIR - the dnnl convolution-layout timing's cache
# file (backends/dnnl/dnnl_tune.c) across processes: a first `kiln bench`
# times the layouts and writes DIR/dnnl-conv-layout.txt past an unreadable
# line; a second process reads its choice back instead of timing; with
# KILN_CACHE_DIR empty nothing is cached. Below AVX-512 there is nothing to
# time: KILN_SKIP.
set -eu
kiln=$1 model=$2 dir=$3
rm -rf "$dir"
mkdir -p "$dir"
file="$dir/dnnl-conv-layout.txt"
printf 'not a cache line\n0123456789abcdef 1 2.0 1.0 3.0 -' > "$file"  # the last line cut short: dropped too
note() {
    "$kiln" bench "$model" --backend dnnl --batch 2 --threads 1 --warmup 0 --iters 1 | grep '^dnnl batch 2: '
}
first=$(KILN_CACHE_DIR="$dir" note)
echo "first:  $first"
case "$first" in
*"nothing to time"*) echo "KILN_SKIP: oneDNN runs below AVX-512 here: no layout to time"; exit 0 ;;
*"the fastest when compiled (one run: any "*) ;;
*) echo "FAIL: the first process did not time the layouts"; exit 1 ;;
esac
second=$(KILN_CACHE_DIR="$dir" note)
echo "second: $second"
case "$second" in
*"timed by an earlier process"*) ;;
*) echo "FAIL: the second process did not read the cache"; exit 1 ;;
esac
lines=$(grep -c . "$file")
grep -Eq '^[0-9a-f]{16} [0-2] [0-9.]+ [0-9.]+ [0-9.]+ ([0-9a-f]+|-)$' "$file" || { echo "FAIL: no cache line in $file"; cat "$file"; exit 1; }
[ "$lines" -eq 1 ] || { echo "FAIL: $lines lines in $file (the unreadable ones must go)"; cat "$file"; exit 1; }
off=$(KILN_CACHE_DIR= note)
echo "off:    $off"
case "$off" in
*"the fastest when compiled"*) ;;
*) echo "FAIL: KILN_CACHE_DIR= still read a cache"; exit 1 ;;
esac
echo "conv cache ok"
