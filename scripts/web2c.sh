#!/bin/sh
# web2c.sh FILE...: the dashboard's files (web/) as a C table,
# http_static[] of {path, content type, data, length}, on stdout
# (-> src/web.c).  index.html is served at "/".
set -e
echo "/* generated from web/ by scripts/web2c.sh: do not edit */"
echo "#include <stddef.h>"
echo "#include \"http.h\""
i=0
for f in "$@"; do
	[ -r "$f" ] || { echo "web2c.sh: cannot read $f" >&2; exit 1; }
	echo "static const char web_$i[] ="
	# \? so that no trigraph can form
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$f"
	printf '\t"";\n'
	i=$((i + 1))
done
echo "const struct http_static http_static[] = {"
i=0
for f in "$@"; do
	b=$(basename "$f")
	case $b in
	*.html) t="text/html; charset=utf-8" ;;
	*.css) t="text/css; charset=utf-8" ;;
	*.js) t="text/javascript; charset=utf-8" ;;
	*) echo "web2c.sh: no content type for $b" >&2; exit 1 ;;
	esac
	[ "$b" = index.html ] && p=/ || p=/$b
	printf '\t{ "%s", "%s", web_%d, sizeof(web_%d) - 1 },\n' "$p" "$t" $i $i
	i=$((i + 1))
done
printf '\t{ NULL, NULL, NULL, 0 }\n};\n'
