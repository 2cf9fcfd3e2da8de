#!/usr/bin/env bash
# Only the API is exported: every symbol libttml.so exports is declared with
# TTML_API in a public header (include/ttml/*.h), and every function a public
# header declares carries TTML_API and is exported. Internal helpers stay
# hidden (C_VISIBILITY_PRESET hidden); tests reach them by linking objects,
# never through the dynamic symbol table. Plugins export only their entry
# (checked on the installed tree by test_install.sh).
# (grep without -q reads all its input: with pipefail an early exit would SIGPIPE the writer)
set -euo pipefail
build=$1 src=$2
lib=$build/lib/libttml.so
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -e "$lib" ] || fail "$lib missing"
# defined dynamic symbols (functions and data), without the toolchain's _init/_fini/__bss_start...
nm -D --defined-only "$lib" | awk '$2 ~ /[TtDdBbRrWwVviu]/ {print $3}' | grep -v '^_' | sort -u >"$tmp/exported" || true
# names declared with the marker (the name is the identifier before the first '(')
grep -h '^TTML_API ' "$src"/include/ttml/*.h | sed 's/(.*//' | grep -o '[A-Za-z_][A-Za-z0-9_]*$' | sort -u >"$tmp/marked"
# every top-level function declaration (column 0, not a typedef/macro/member)
grep -h -E '^[A-Za-z_][A-Za-z0-9_ ]*[ *]+ttml_[a-z0-9_]+\(' "$src"/include/ttml/*.h \
  | grep -v -E '^(typedef|static|struct|enum|union|return|#)' | grep -v '^TTML_API ' >"$tmp/unmarked" || true
[ -s "$tmp/unmarked" ] && fail "public functions declared without TTML_API (they would not be exported):
$(cat "$tmp/unmarked")"
comm -23 "$tmp/exported" "$tmp/marked" >"$tmp/extra"
[ -s "$tmp/extra" ] && fail "libttml.so exports $(wc -l <"$tmp/extra") symbol(s) no public header declares with TTML_API;
declare and document each in the right include/ttml/ header, or keep it internal (hidden):
$(cat "$tmp/extra")"
comm -13 "$tmp/exported" "$tmp/marked" >"$tmp/missing"
[ -s "$tmp/missing" ] && fail "declared with TTML_API but not exported by libttml.so (no definition?):
$(cat "$tmp/missing")"
echo "libttml exports exactly the $(wc -l <"$tmp/exported") TTML_API functions of include/ttml"
