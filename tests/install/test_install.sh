#!/usr/bin/env bash
# Install to a temporary prefix, move the tree, and check that it still runs
# (RUNPATH $ORIGIN), that every ELF file has the expected RUNPATH and NEEDED
# entries, that lib/pkgconfig/ttml.pc and lib/cmake/ttml (find_package,
# ttml::ttml) work from the moved tree, and that with RUNPATH stripped it
# runs through LD_LIBRARY_PATH alone.
# (grep without -q reads all its input: with pipefail an early exit would SIGPIPE the writer)
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/p" >/dev/null
mv "$tmp/p" "$tmp/q"
q=$tmp/q
fail() { echo "FAIL: $*"; exit 1; }
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
[ -e "$q/lib/libttml.so.1" ] || fail "lib/libttml.so.1 missing"
[ "$(runpath "$q/bin/ttml-run")" = '$ORIGIN/../lib' ] || fail "bin/ttml-run RUNPATH is '$(runpath "$q/bin/ttml-run")'"
[ "$(runpath "$q/lib/libttml.so.1")" = '$ORIGIN' ] || fail "libttml RUNPATH"
for so in "$q"/lib/ttml/drivers/*.so "$q"/lib/ttml/plugins/*.so; do
  [ "$(runpath "$so")" = '$ORIGIN/../..' ] || fail "$so RUNPATH is '$(runpath "$so")'"
  readelf -d "$so" | grep 'NEEDED.*libttml.so.1' >/dev/null || fail "$so does not NEED libttml.so.1"
  readelf -d "$so" | grep '(RPATH)' >/dev/null && fail "$so has DT_RPATH instead of DT_RUNPATH"
  syms=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRVWi]/ {print $3}' | grep -v '^_' || true)
  [ "$(echo "$syms" | grep -c .)" = 1 ] || fail "$so exports more than its entry: $syms"
  stem=$(basename "$so" .so); stem=${stem#libttml_}
  [ "$syms" = "ttml_plugin_${stem}_get_desc" ] || fail "$so exports '$syms', not ttml_plugin_${stem}_get_desc"
done
for f in "$q"/bin/*; do
  [ "$(runpath "$f")" = '$ORIGIN/../lib' ] || fail "$f RUNPATH is '$(runpath "$f")'"
  readelf -d "$f" | grep 'NEEDED.*\[libttml.so.1\]' >/dev/null || fail "$f does not NEED libttml.so.1"
done
readelf -d "$q/lib/libttml.so.1" | grep 'SONAME.*\[libttml.so.1\]' >/dev/null || fail "libttml SONAME"
readelf -d "$q/lib/libttml.so.1" | grep 'NEEDED.*\[libglib-2.0.so.0\]' >/dev/null || fail "libttml does not NEED GLib"
# pkg-config: relocatable (paths relative to the .pc file), plugin dirs and ABI as variables
pc() { PKG_CONFIG_PATH=$q/lib/pkgconfig pkg-config "$@" ttml; }
[ "$(readlink -f "$(pc --variable=includedir)")" = "$q/include" ] || fail "ttml.pc includedir: $(pc --variable=includedir)"
[ "$(readlink -f "$(pc --variable=pluginsdir)")" = "$q/lib/ttml/plugins" ] || fail "ttml.pc pluginsdir"
[ "$(readlink -f "$(pc --variable=driversdir)")" = "$q/lib/ttml/drivers" ] || fail "ttml.pc driversdir"
[ "$(pc --variable=plugin_abi_major).$(pc --variable=plugin_abi_minor)" = \
  "$(sed -n 's/^#define TTML_ABI_MAJOR //p' "$q/include/ttml/plugin.h").$(sed -n 's/^#define TTML_ABI_MINOR //p' "$q/include/ttml/plugin.h")" ] \
  || fail "ttml.pc plugin ABI"
pc --libs | grep -- "-lttml" >/dev/null || fail "ttml.pc Libs: $(pc --libs)"
pc --cflags | grep -- "glib-2.0" >/dev/null || fail "ttml.pc does not require glib-2.0: $(pc --cflags)"
# CMake package: find_package(ttml) from the moved tree, link ttml::ttml, run
# a sanitizer build's libttml needs its runtime first in programs linking it
san=
if readelf -d "$q/lib/libttml.so.1" | grep 'NEEDED.*libasan' >/dev/null; then san="-fsanitize=address,undefined"; fi
mkdir "$tmp/use"
cat >"$tmp/use/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(use_ttml C)
find_package(ttml 0.1 REQUIRED)
add_executable(use use.c)
target_link_libraries(use PRIVATE ttml::ttml)
file(WRITE ${CMAKE_BINARY_DIR}/dirs.txt "${ttml_PLUGINS_DIR}\n${ttml_PLUGIN_ABI_MAJOR}\n")
CMAKE
cat >"$tmp/use/use.c" <<'C'
#include <ttml/ttml.h>
#include <stdio.h>
int main(void) { GError *e = NULL; if (!ttml_init(NULL, &e)) return 1;
  printf("%s %s %s\n", ttml_version_string(), ttml_library_path(), ttml_op_find("matmul") ? "matmul" : "-");
  ttml_shutdown(); return 0; }
C
cmake -S "$tmp/use" -B "$tmp/use/b" -DCMAKE_PREFIX_PATH="$q" -DCMAKE_C_FLAGS="$san" >"$tmp/use.log" 2>&1 || { cat "$tmp/use.log"; fail "find_package(ttml)"; }
cmake --build "$tmp/use/b" >"$tmp/use.log" 2>&1 || { cat "$tmp/use.log"; fail "linking ttml::ttml"; }
out=$(env -u TTML_PLUGIN_PATH "$tmp/use/b/use") || fail "ttml::ttml consumer: $out"
[ "$out" = "$(pc --modversion) $(readlink -f "$q/lib/libttml.so.1") matmul" ] || fail "ttml::ttml consumer printed '$out'"
[ "$(readlink -f "$(sed -n 1p "$tmp/use/b/dirs.txt")")" = "$q/lib/ttml/plugins" ] || fail "ttml_PLUGINS_DIR"
sed -i 's/find_package(ttml 0.1 REQUIRED)/find_package(ttml 99 REQUIRED)/' "$tmp/use/CMakeLists.txt"
if cmake -S "$tmp/use" -B "$tmp/use/b99" -DCMAKE_PREFIX_PATH="$q" >/dev/null 2>&1; then
  fail "find_package(ttml 99) accepted version $(pc --modversion)"
fi
cfg=$src/configs/linear_regression.yaml
out=$(env -u TTML_PLUGIN_PATH "$q/bin/ttml-run" "$cfg")
echo "$out" | grep "Prediction for \[1, 1\]" >/dev/null || fail "moved tree did not train: $out"
"$q/bin/ttml-inspect" | grep "beside libttml.*$q/lib/ttml/drivers" >/dev/null || fail "ttml-inspect does not search the moved tree"
# strip RUNPATH: only LD_LIBRARY_PATH can find libttml now
for f in "$q"/bin/* "$q"/lib/libttml.so.1 "$q"/lib/ttml/*/*.so; do patchelf --remove-rpath "$(readlink -f "$f")"; done
if env -u LD_LIBRARY_PATH "$q/bin/ttml-run" "$cfg" >/dev/null 2>&1; then fail "runs without RUNPATH and LD_LIBRARY_PATH?"; fi
LD_LIBRARY_PATH=$q/lib "$q/bin/ttml-run" "$cfg" | grep "Prediction for \[1, 1\]" >/dev/null || fail "LD_LIBRARY_PATH deployment"
echo "install tree OK: moved, RUNPATHs, NEEDED, exports, ttml.pc, ttmlConfig.cmake, LD_LIBRARY_PATH"
