#!/bin/sh
# check_install.sh BUILD SOURCE [CFLAGS...] - install kiln from BUILD into a temporary prefix, then build
# examples/classify.c against it three ways and run each on models/data/digit_7.npy and digit_7.png (class 7):
#   1. pkg-config, the shared libkiln;
#   2. pkg-config --static, libkiln.a and the dependencies kiln.pc lists;
#   3. CMake, find_package(kiln) and kiln::kiln.
# It also checks the layout (libkiln.so's SONAME and version, kiln.h, kiln.pc, the CMake package, bin/kiln) and
# that libkiln.so exports exactly the KN_API functions of kiln.h. CFLAGS (the sanitizer flags of an
# instrumented build) go to every compile and link.
set -eu
build=$1 src=$2
shift 2
cflags="$*"
cc=${CC:-cc}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/kiln-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
fail() { echo "check_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$prefix/install.log" || { cat "$prefix/install.log" >&2; fail "cmake --install failed"; }
libdir=$(dirname "$(find "$prefix" -name kiln.pc)")/..
libdir=$(cd "$libdir" && pwd)
for f in "$prefix/bin/kiln" "$prefix/include/kiln.h" "$libdir/libkiln.a" "$libdir/libkiln.so" \
         "$libdir/pkgconfig/kiln.pc" "$libdir/cmake/kiln/kilnConfig.cmake" "$libdir/cmake/kiln/kilnConfigVersion.cmake"; do
    [ -e "$f" ] || fail "missing ${f#"$prefix"/}"
done
version=$(sed -n 's/^Version: //p' "$libdir/pkgconfig/kiln.pc")
soname=$(readelf -d "$libdir/libkiln.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case $version in 0.*) want=libkiln.so.${version%.*} ;; *) want=libkiln.so.${version%%.*} ;; esac
[ "$soname" = "$want" ] || fail "SONAME '$soname', expected '$want'"
[ -e "$libdir/libkiln.so.$version" ] || fail "no libkiln.so.$version"
"$prefix/bin/kiln" --version | grep -qx "kiln $version" || fail "kiln --version does not say $version"

# the exported functions are the ones kiln.h declares KN_API, no more, no fewer
sed -n 's/^KN_API [^(]*[ *]\(kn_[a-z0-9_]*\)(.*/\1/p' "$prefix/include/kiln.h" | sort > "$prefix/api.txt"
nm -D --defined-only "$libdir/libkiln.so" | awk '$2 ~ /^[TW]$/ {print $3}' | grep -v '^_' | sort > "$prefix/exported.txt"
[ -s "$prefix/api.txt" ] || fail "no KN_API function found in kiln.h"
diff "$prefix/api.txt" "$prefix/exported.txt" > "$prefix/api.diff" ||
    { cat "$prefix/api.diff" >&2; fail "libkiln.so exports other functions than kiln.h's KN_API ones (< header, > library)"; }

run() { # NAME EXECUTABLE: run on digit 7 as .npy and as PNG, which the model must call class 7
    for digit in digit_7.npy digit_7.png; do
        out=$("$2" "$src/models/mnist_small.onnx" "$src/models/data/$digit") || fail "$1: the example failed on $digit"
        echo "$1: $digit: $out"
        echo "$out" | grep -q "^image 0: class 7 " || fail "$1: expected class 7 for $digit"
    done
}
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046,SC2086
$cc $cflags -std=c11 -Wall -Wextra -Werror -o "$prefix/classify_shared" "$src/examples/classify.c" \
    $(pkg-config --cflags --libs kiln) -Wl,-rpath,"$libdir" || fail "pkg-config build failed"
run "pkg-config" "$prefix/classify_shared"
# shellcheck disable=SC2046,SC2086
$cc $cflags -std=c11 -o "$prefix/classify_static" "$src/examples/classify.c" \
    $(pkg-config --static --cflags kiln) $(pkg-config --static --libs kiln | sed 's/-lkiln\b/-l:libkiln.a/') ||
    fail "pkg-config --static build failed"
readelf -d "$prefix/classify_static" | grep -q 'NEEDED.*libkiln' && fail "the static build links libkiln.so"
run "pkg-config --static" "$prefix/classify_static"
cmake -S "$src/examples" -B "$prefix/example" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_C_FLAGS=$cflags" > "$prefix/cmake.log" 2>&1 &&
    cmake --build "$prefix/example" >> "$prefix/cmake.log" 2>&1 || { cat "$prefix/cmake.log" >&2; fail "CMake build failed"; }
run "cmake" "$prefix/example/classify"
