#!/bin/sh
# check.sh - run a command and check its exit code and output (for tests/cli.cmake).
#
# usage: check.sh RC [-o REGEX] [-e REGEX] [-n REGEX] [-f FILE] -- COMMAND [ARGS...]
#   RC          the expected exit code
#   -o REGEX    some line of standard output matches the extended REGEX
#   -e REGEX    some line of standard error matches REGEX
#   -n REGEX    no line of standard output or error matches REGEX
#   -f FILE     FILE exists afterwards
# Sanitizer reports always fail the check.
set -u
want_rc=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kn_cli_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
checks="$tmp/checks"
: > "$checks"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
    -o|-e|-n|-f) printf '%s\n%s\n' "$1" "$2" >> "$checks"; shift 2 ;;
    *) echo "check.sh: bad argument '$1'" >&2; exit 1 ;;
    esac
done
[ $# -gt 0 ] && shift
"$@" > "$tmp/out" 2> "$tmp/err"
rc=$?
echo "--- command: $*"
echo "--- exit code: $rc"
echo "--- stdout:"; cat "$tmp/out"
echo "--- stderr:"; cat "$tmp/err"
ok=1
if [ "$rc" != "$want_rc" ]; then
    echo "FAIL: exit code $rc, expected $want_rc"
    ok=0
fi
if grep -E -q 'Sanitizer|runtime error:|LeakSanitizer' "$tmp/err"; then
    echo "FAIL: sanitizer report"
    ok=0
fi
while IFS= read -r kind && IFS= read -r arg; do
    case $kind in
    -o) grep -E -q -e "$arg" "$tmp/out" || { echo "FAIL: stdout does not match /$arg/"; ok=0; } ;;
    -e) grep -E -q -e "$arg" "$tmp/err" || { echo "FAIL: stderr does not match /$arg/"; ok=0; } ;;
    -n) if cat "$tmp/out" "$tmp/err" | grep -E -q -e "$arg"; then echo "FAIL: output matches /$arg/"; ok=0; fi ;;
    -f) [ -f "$arg" ] || { echo "FAIL: $arg was not written"; ok=0; } ;;
    esac
done < "$checks"
[ $ok = 1 ] && echo "PASS" && exit 0
exit 1
