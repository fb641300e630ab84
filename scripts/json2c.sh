#!/bin/sh
# json2c.sh NAME FILE: FILE as a C string, "const char NAME[] = ...;",
# on stdout (doc/openapi.json -> src/openapi.c).
set -e
[ $# -eq 2 ] || { echo "usage: json2c.sh NAME FILE" >&2; exit 2; }
[ -r "$2" ] || { echo "json2c.sh: cannot read $2" >&2; exit 1; }
echo "/* generated from $(basename "$2") by scripts/json2c.sh: do not edit */"
echo "const char $1[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$2"
echo "\t\"\";" | sed 's/\\t/\t/'
