#!/bin/sh
# make_bad.sh OUTDIR - spec files the CLI tests feed to kiln that are easier
# made than committed: an empty file, binary data, a file with only comments, a layer named twice.
set -eu
mkdir -p "$1"
: > "$1/empty.kiln"
printf 'model m {\n\000\001\002\003\377 binary' > "$1/binary.kiln"
printf '# nothing but a comment\n' > "$1/comments.kiln"
# a layer named both ways (a = ... and name="b")
printf 'model m {\n    x = input(shape=(4,))\n    a = dense(3, name="b")\n}\n' > "$1/named.kiln"
